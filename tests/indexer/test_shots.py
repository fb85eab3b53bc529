"""Shot-aware segmentation (indexer/segmenters/): cuts found on synthetic videos with known shots, gradual transitions
giving one boundary at most, shots turned into segments within the min/max lengths on frame boundaries, and a build
cutting by shots, recording it in its manifest and refusing a switch without --rebuild."""

import json

import pytest

from indexer.decoders import VideoInfo
from indexer.segment import Segment
from indexer.segmenters import SegmentRule, resegment, segment_video
from indexer.segmenters.fixed import fixed_segments
from indexer.segmenters.shots import find_cuts, scan_shots, shot_segments
from tests.shot_videos import boundary_accuracy, write_cuts_video, write_static_video


@pytest.fixture(scope="module")
def cut_videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shots")
    return [write_cuts_video(folder / f"cuts{seed}.mp4", seed) for seed in range(3)]


def test_hard_cuts_are_found_within_a_frame_and_fades_give_one_boundary_at_most(cut_videos):
    found_total, hits_total, cuts_total, true_total = 0, 0, 0, 0
    for video in cut_videos:
        scan = scan_shots(video.path)
        assert len(scan.times) == video.frames
        precision, recall = boundary_accuracy(scan.cuts, video)
        scored = [f for f in scan.cuts if not any(a - 1 <= f <= b + 1 for a, b in video.gradual)]
        found_total += len(scored)
        true_total += round(precision * len(scored))
        cuts_total += len(video.cuts)
        hits_total += round(recall * len(video.cuts))
        for first, last in video.gradual:
            assert len([f for f in scan.cuts if first - 1 <= f <= last + 1]) <= 1, (video.path.name, first, last, scan.cuts)
    assert true_total / found_total >= 0.95 and hits_total / cuts_total >= 0.95, (true_total, found_total, hits_total, cuts_total)


def test_a_long_static_shot_has_no_cut_and_is_split_into_equal_parts(tmp_path):
    video = write_static_video(tmp_path / "static.mp4", seconds=90.0)
    info = VideoInfo(90.0, 10.0, 160, 96, "h264")
    info, segments = segment_video(video.path, info, SegmentRule("shots", max_seconds=20.0, min_seconds=2.0))
    assert scan_shots(video.path).cuts == []
    assert [(s.start, s.end) for s in segments] == [(0.0, 18.0), (18.0, 36.0), (36.0, 54.0), (54.0, 72.0), (72.0, 90.0)]


def test_cuts_closer_than_the_minimum_shot_keep_only_the_strongest_and_a_flash_is_none():
    scores = [0.0] + [1.0] * 60
    scores[21], scores[25], scores[44] = 60.0, 80.0, 50.0  # two spikes 4 frames apart, then one alone
    assert find_cuts(scores) == [25, 44]
    scores[44:47] = [60.0, 80.0, 70.0]  # three busy frames in a row stand above no neighbour: no cut
    assert find_cuts(scores) == [25]


def test_shots_become_segments_within_the_lengths_on_frame_boundaries():
    fps = 25.0
    times = [i / fps for i in range(int(70 * fps))]
    cuts = [0.4, 3.0, 3.8, 10.0, 55.04, 56.0]  # a sliver at the start, short shots, a 45 s shot, a short last piece
    segments = shot_segments(cuts, 70.0, times, max_seconds=20.0, min_seconds=2.0)
    assert segments[0].start == 0.0 and segments[-1].end == 70.0
    assert all(a.end == b.start for a, b in zip(segments, segments[1:]))  # cover [0, duration] exactly
    assert all(2.0 <= s.duration <= 20.0 for s in segments), segments
    frame_starts = {round(t, 6) for t in times}
    assert all(s.start in frame_starts for s in segments)
    assert {3.8, 10.0} <= {s.start for s in segments}  # 3.0..3.8 joined its shorter neighbour, 0..3.0


def test_a_video_shorter_than_the_minimum_is_one_segment_and_bad_lengths_are_refused():
    assert shot_segments([0.5], 1.5, [i / 10 for i in range(15)], 20.0, 2.0) == [Segment(0.0, 1.5)]
    assert shot_segments([], 0.0, [], 20.0, 2.0) == []
    with pytest.raises(ValueError, match="min segment seconds"):
        SegmentRule("shots", max_seconds=2.0, min_seconds=3.0)
    with pytest.raises(ValueError, match="shots, fixed"):
        SegmentRule("scenes")


def test_a_replan_cuts_shots_at_the_real_end_and_replans_fixed_windows():
    shots = [Segment(0.0, 4.0), Segment(4.0, 12.0), Segment(12.0, 30.0)]
    assert resegment(SegmentRule("shots"), shots, 10.0) == [Segment(0.0, 4.0), Segment(4.0, 10.0)]
    assert resegment(SegmentRule("fixed", 10.0), shots, 25.0) == [Segment(0, 10), Segment(10, 20), Segment(20, 25)]


def test_a_build_catalogues_the_shots_and_refuses_a_switch_without_rebuild(tmp_path, _tiny_encoder, cut_videos):
    import shutil

    from indexer import IndexMismatchError, open_index
    from indexer.index_dir.layout import MANIFEST, current_generation
    from indexer.pipeline.local import build_index
    from indexer.pipeline.options import BuildOptions

    library = tmp_path / "lib"
    library.mkdir()
    shutil.copy(cut_videos[0].path, library / "a.mp4")
    options = BuildOptions(library, tmp_path / "index", frames=2, workers=1, progress=False, previews="off")
    report = build_index(_tiny_encoder, options)
    assert report.indexed == 1 and not report.failed
    info = VideoInfo(cut_videos[0].frames / 25, 25.0, 320, 180, "h264")
    _, expected = segment_video(library / "a.mp4", info, SegmentRule("shots"))
    reader = open_index(tmp_path / "index")
    catalogued = [(s.start, s.end) for s in reader.video_segments(reader.videos()[0].id)]
    reader.close()
    assert catalogued == [(s.start, s.end) for s in expected] and len(expected) > 3
    manifest = json.loads((current_generation(tmp_path / "index") / MANIFEST).read_text())
    assert (manifest["segmenter"], manifest["max_segment_seconds"], manifest["min_segment_seconds"]) == ("shots", 20.0, 2.0)
    fixed = BuildOptions(**{**vars(options), "segments": "fixed"})
    with pytest.raises(IndexMismatchError, match=r"segmenter: index cut into 'shots'.*--rebuild"):
        build_index(_tiny_encoder, fixed)
    windows = fixed_segments(info.duration, 10.0)
    assert build_index(_tiny_encoder, BuildOptions(**{**vars(fixed), "rebuild": True})).segments == len(windows) == 5


def test_an_index_from_before_the_field_reads_as_fixed(tmp_path):
    from indexer import Manifest, compatibility_problems

    old = Manifest("m", "none", "w", 4, 2, 10.0, {})
    path = tmp_path / "manifest.json"
    data = json.loads(old.to_json())
    for name in ("segmenter", "max_segment_seconds", "min_segment_seconds"):
        del data[name]
    path.write_text(json.dumps(data))
    read = Manifest.read(path)
    assert read.segmenter == "fixed" and read.max_segment_seconds is None
    shots = Manifest("m", "none", "w", 4, 2, 5.0, {}, segmenter="shots", max_segment_seconds=20.0, min_segment_seconds=2.0)
    assert compatibility_problems(shots, Manifest(**{**vars(shots), "segment_seconds": 10.0})) == []  # unused by shots
    assert compatibility_problems(read, shots)[0].startswith("segmenter: index cut into 'fixed'")


def test_the_cli_keeps_an_existing_indexs_segmenter_unless_told(library, built_index, tmp_path, capsys):
    import shutil

    from app import cli
    from indexer import read_manifest

    index_dir = tmp_path / "index"
    shutil.copytree(built_index, index_dir)  # built with fixed 10 s windows (tests/conftest.py)
    argv = ["index", "build", str(library), "--index-dir", str(index_dir), "--model", "vidseek-tiny", "--pretrained", "none"]
    argv += ["--frames", "4", "--workers", "1", "--no-progress", "--previews", "off"]
    assert cli.main(argv) == 0
    assert "cut into fixed segments; keeping them" in capsys.readouterr().err
    assert read_manifest(index_dir).segmenter == "fixed"
    assert cli.main([*argv, "--segments", "shots"]) == 2  # asked to switch: refused without --rebuild
    assert "segmenter: index cut into 'fixed'" in capsys.readouterr().err
    assert cli.main([*argv, "--segments", "shots", "--rebuild"]) == 0
    assert read_manifest(index_dir).segmenter == "shots"


def test_the_rule_an_index_records_is_the_rule_it_was_built_with(tmp_path, _tiny_encoder):
    from indexer.pipeline.options import BuildOptions, manifest_for, segment_rule
    from indexer.segmenters import SegmentRule, recorded_rule

    for options in (
        BuildOptions(tmp_path, tmp_path / "i"),
        BuildOptions(tmp_path, tmp_path / "i", segments="shots", max_segment_seconds=30, min_segment_seconds=1.5),
        BuildOptions(tmp_path, tmp_path / "i", segments="fixed", segment_seconds=4),
    ):
        assert recorded_rule(manifest_for(_tiny_encoder, options)) == segment_rule(options)
    assert segment_rule(BuildOptions(tmp_path, tmp_path / "i")) == SegmentRule("shots", 10.0, 20.0, 2.0)  # the defaults


def test_a_library_clip_of_long_shots_is_cut_at_each_of_them(tmp_path):
    """benchmarks/bench_index.py's shots library: shots of 2-20 s; every cut is found, and the segments follow them."""
    from indexer.segmenters.shots import scan_shots, shot_segments
    from tests.shot_videos import boundary_accuracy, write_shots_video

    truth = write_shots_video(tmp_path / "s.mp4", 40.0, seed=3, size=(160, 96), fps=10)
    assert len(truth.cuts) >= 2
    scan = scan_shots(truth.path)
    assert boundary_accuracy(scan.cuts, truth) == (1.0, 1.0)
    segments = shot_segments(scan.cut_times, scan.end, scan.times, 20.0, 2.0)
    starts = {round(s.start * truth.fps) for s in segments}
    assert {c for c in truth.cuts if c >= 2 * truth.fps and truth.frames - c >= 2 * truth.fps} <= starts
