"""bench-index's comparison of ``--segments shots`` with ``fixed``: whole builds over a library of clips with real
shot structure, and the shot detector's accuracy on synthetic videos of known cuts (tests/shot_videos.py)."""

from __future__ import annotations

import time
from pathlib import Path

REFERENCE = "pyav"  # the decoder that measures each clip's length (bench_index.py's reference)


SHOT_SECONDS = (2.0, 20.0)  # the shots library's shot lengths, drawn uniformly: between a film's and a home video's


def make_shots_library(root: Path, clips: int, seconds: float, size: tuple[int, int]) -> list[Path]:
    """As many clips as the main library, as long and as large, made of shots with hard cuts between them
    (tests/shot_videos.py). The main library's frames carry their number in binary stripes, and a flip of several
    stripes at once is a real change of a third of the picture: the detector cuts there, which no library has."""
    from tests.shot_videos import write_shots_video

    root.mkdir(parents=True, exist_ok=True)
    return [
        write_shots_video(root / f"shots{i:03d}.mp4", seconds, seed=i, size=size, shot_seconds=SHOT_SECONDS).path
        for i in range(clips)
    ]


def measure_segmenters(encoder, args, library: Path, tmp: Path, name: str) -> dict:
    """The whole build with ``--segments shots`` and with ``fixed`` (10 s) over the same files (a shots library:
    :func:`make_shots_library`): segments/s and video-seconds/s of each, and shots' video-seconds/s over fixed's
    (the goal: >= 0.7). Where it falls short, ``shots_vs_fixed_per_segment`` says how much is the detector's pass
    over every frame (1.0: none) and the segments' ratio how much is more segments to embed."""
    from indexer.clips import probe_video
    from indexer.pipeline.local import build_index
    from indexer.pipeline.options import BuildOptions

    video_seconds = sum(probe_video(REFERENCE, str(p)).duration for p in sorted(library.glob("*.mp4")))
    row = {}
    for segments in ("fixed", "shots"):
        options = BuildOptions(
            library,
            tmp / f"index-{name}-{segments}",
            frames=args.frames,
            segments=segments,
            batch_size=args.batch_size,
            workers=args.workers,
            progress=False,
            previews="off",
        )
        report = build_index(encoder, options)
        assert not report.failed, report.summary()
        row[segments] = {
            "segments": report.segments,
            "seconds": report.seconds,
            "segments_per_s": report.segments_per_second,
            "video_seconds_per_s": video_seconds / report.seconds,
        }
    row["shots_vs_fixed"] = row["shots"]["video_seconds_per_s"] / row["fixed"]["video_seconds_per_s"]
    row["shots_vs_fixed_per_segment"] = row["shots"]["segments_per_s"] / row["fixed"]["segments_per_s"]
    return row


def detectors() -> dict:
    """The shot detectors to compare: vidseek's, and PySceneDetect's AdaptiveDetector and ContentDetector (its
    OpenCV backend, its fastest) where ``scenedetect`` and OpenCV are installed (neither is a dependency)."""
    from indexer.segmenters.shots import scan_shots

    found = {"vidseek": lambda path: scan_shots(path).cuts}
    try:
        from scenedetect import SceneManager, open_video
        from scenedetect.detectors import AdaptiveDetector, ContentDetector
    except ImportError:
        return found

    def scenedetect_cuts(detector):
        def cuts(path: Path) -> list[int]:
            manager = SceneManager()
            manager.add_detector(detector())
            manager.detect_scenes(open_video(str(path), backend="opencv"))
            return [start.get_frames() for start, _ in manager.get_scene_list()][1:]

        return cuts

    found["PySceneDetect adaptive"] = scenedetect_cuts(AdaptiveDetector)
    found["PySceneDetect content"] = scenedetect_cuts(ContentDetector)
    return found


def detector_accuracy(tmp: Path, videos: int = 4) -> dict:
    """Each shot detector (:func:`detectors`) on synthetic videos of known cuts (tests/shot_videos.py): precision
    and recall of hard cuts within one frame, the most boundaries found inside one fade or dissolve, and
    video-seconds scanned per second."""
    from tests.shot_videos import boundary_accuracy, write_cuts_video

    truths = [write_cuts_video(tmp / f"shots{seed}.mp4", seed) for seed in range(videos)]
    results = {}
    for name, find in detectors().items():
        true_found = found = hits = cuts = most_in_gradual = 0
        seconds = scanned = 0.0
        for truth in truths:
            started = time.perf_counter()
            boundaries = find(truth.path)
            seconds += time.perf_counter() - started
            scanned += truth.frames / truth.fps
            precision, recall = boundary_accuracy(boundaries, truth)
            scored = [f for f in boundaries if not any(a - 1 <= f <= b + 1 for a, b in truth.gradual)]
            found, true_found = found + len(scored), true_found + round(precision * len(scored))
            cuts, hits = cuts + len(truth.cuts), hits + round(recall * len(truth.cuts))
            inside = [len([f for f in boundaries if a - 1 <= f <= b + 1]) for a, b in truth.gradual]
            most_in_gradual = max([most_in_gradual, *inside])
        results[name] = {
            "precision": true_found / found if found else 1.0,
            "recall": hits / cuts if cuts else 1.0,
            "cuts": cuts,
            "most_boundaries_in_a_transition": most_in_gradual,
            "scan_video_seconds_per_s": scanned / seconds,
        }
    return results


def print_segmenters(rows: list[dict], accuracy: dict) -> None:
    low, high = SHOT_SECONDS
    print(
        f"\nwhole build, --segments shots vs fixed (10 s), same files (shots of {low:g}-{high:g} s, hard cuts): "
        "segments, segments/s, video-seconds/s"
    )
    print(
        f"{'size':<11}{'model':<14}{'fixed seg':>10}{'seg/s':>8}{'video s/s':>11}{'shots seg':>11}{'seg/s':>8}"
        f"{'video s/s':>11}{'shots/fixed':>13}{'per segment':>13}"
    )
    for row in rows:
        f, s = row["segmenters"]["fixed"], row["segmenters"]["shots"]
        print(
            f"{row['size']:<11}{row['model']:<14}{f['segments']:>10}{f['segments_per_s']:>8.2f}{f['video_seconds_per_s']:>11.2f}"
            f"{s['segments']:>11}{s['segments_per_s']:>8.2f}{s['video_seconds_per_s']:>11.2f}{row['segmenters']['shots_vs_fixed']:>13.2f}"
            f"{row['segmenters']['shots_vs_fixed_per_segment']:>13.2f}"
        )
    print(
        "shots/fixed: video-seconds/s of the shots build over the fixed one's (goal >= 0.70); per segment: their "
        "segments/s (below 1: the detector's pass over every frame; the rest is more segments to embed)"
    )
    print("\nshot detectors on synthetic videos of known cuts (320x180, 25 fps; within 1 frame; goal >= 0.95):")
    print(f"{'detector':<24}{'cuts':>6}{'precision':>11}{'recall':>8}{'most in a fade':>16}{'video s/s':>11}")
    for name, a in accuracy.items():
        print(
            f"{name:<24}{a['cuts']:>6}{a['precision']:>11.3f}{a['recall']:>8.3f}"
            f"{a['most_boundaries_in_a_transition']:>16}{a['scan_video_seconds_per_s']:>11.0f}"
        )
