"""What ``index build --fast-seek`` costs in retrieval, beside what it saves in decoding, measured in one run.

    python benchmarks/bench_fast_seek.py [--cache-dir DIR] [--clips 1000 --epochs 20] [--gops default,5,10]

Data and model are the offline demo's (``app/demo.py``): synthetic captioned clips and vidseek-tiny fine-tuned on
their training split, made or reused under the demo's cache (``~/.cache/vidseek/demo/<settings>/``), so a run
after ``make demo`` starts at once; a first run pays for the demo's preparation (minutes). The held-out clips
(2 s at 10 fps) are indexed through ``indexer.pipeline.local.build_index`` with the exact decoder (``pyav``) and with
``--fast-seek`` (``pyav-keyframes``: the nearest keyframe for each sampled instant), and every held-out caption
is searched in each index: text->video R@1, R@5, median rank (ties counted against the query, as ``vidseek
eval`` does), the captions whose first answer changed, and motion top-1 (each clip's caption against the same
caption with another motion: what a single keyframe cannot show), beside decode-only and whole-build segments/s.

The demo's clips are written with the encoder's default GOP (libx264: 250 frames), so each holds one keyframe
and keyframe sampling sees a single frame per clip. The same clips are also written again from the same
rendered frames (same seeds, ``indexer.synth``) with a keyframe every N frames (``--gops``; 5 = 0.5 s,
10 = 1 s), as real encoders do. Ends with one line of JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import av  # noqa: E402
import numpy as np  # noqa: E402

from app.demo import DemoOptions, DemoResult, default_cache_dir, run_demo  # noqa: E402
from indexer.clips import decode_short_side
from indexer.decoders.base import get_decoder  # noqa: E402
from indexer.index_dir.reader import IndexReader  # noqa: E402
from indexer.pipeline.local import build_index
from indexer.pipeline.options import BuildOptions
from indexer.segment import plan_segments, sample_frame_times  # noqa: E402
from indexer.synth import MOTIONS, SynthClip, generate, plan_split  # noqa: E402
from models import VideoEncoder, load_encoder  # noqa: E402
from models.metrics import ranks, recall_summary, top_k_accuracy  # noqa: E402

DECODERS = ("pyav", "pyav-keyframes")  # exact frames; --fast-seek
SEGMENT_SECONDS = 10.0  # the build's default: one segment per 2 s clip
DEMO = DemoOptions(cache_dir=Path())  # the demo's defaults, so the bench reuses the cache `make demo` writes


def keyframes_per_clip(files: list[Path]) -> float:
    count = 0
    for path in files:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            count += sum(1 for packet in container.demux(stream) if packet.pts is not None and packet.is_keyframe)
    return count / len(files)


def decode_only(decoder: str, files: list[Path], frames: int, short_side: int) -> tuple[float, float]:
    """(seconds, distinct frames per segment) of probing and reading every file's sampled frames in this process,
    as one decode worker does (no posters, no pool)."""
    backend = get_decoder(decoder)
    distinct, segments = 0, 0
    started = time.perf_counter()
    for path in files:
        planned = plan_segments(backend.probe(path).duration, SEGMENT_SECONDS)
        times = [t for s in planned for t in sample_frame_times(s.start, s.end, frames)]
        read = backend.read(path, times, short_side)
        distinct += sum(len(set(read.times[i : i + frames])) for i in range(0, len(times), frames))
        segments += len(planned)
    return time.perf_counter() - started, distinct / segments


def retrieval(encoder, index_dir: Path, clips: list[SynthClip], files: list[Path]) -> dict:
    """Every held-out caption searched in the published index (the server's search path, every segment ranked), and
    each clip's motion told from its caption with the first object's motion swapped for each other one."""
    reader = IndexReader(index_dir)
    try:
        captions = encoder.encode_text([c.caption for c in clips])
        ids, similarity = search_all(reader, captions)
        names = {i: Path(record.path).name for i, record in reader.segments(ids).items()}
        variants = encoder.encode_text([caption for c in clips for caption in motion_variants(c)])
        _, variant_similarity = search_all(reader, variants, ids)
    finally:
        reader.close()
    positives = np.array([[names[i] == f.name for i in ids] for f in files])
    query_ranks = ranks(similarity, positives)
    own = positives.argmax(axis=1)  # one segment per 2 s clip
    motion_scores = variant_similarity.reshape(len(clips), len(MOTIONS), len(ids))[np.arange(len(clips)), :, own]
    truth = [MOTIONS.index(c.objects[0].motion) for c in clips]
    return {
        **recall_summary(query_ranks, "t2v", ks=(1, 5)),
        "motion_top1": top_k_accuracy(motion_scores, truth, ks=(1,))["zs_top1"],
        "segments": len(ids),
        "_r1_hits": query_ranks <= 1,
    }


def search_all(reader: IndexReader, queries: np.ndarray, ids: list[int] | None = None) -> tuple[list[int], np.ndarray]:
    """(segment ids, scores [queries, segments]) with every segment of the index returned for every query."""
    n = reader.count
    hits = reader.search_batch(queries, [n] * len(queries), [0] * len(queries), [None] * len(queries))
    ids = ids if ids is not None else sorted({i for found, _ in hits for i, _ in found})
    column = {segment: j for j, segment in enumerate(ids)}
    similarity = np.full((len(queries), len(ids)), -np.inf)
    for row, (found, _) in enumerate(hits):
        for segment, score in found:
            similarity[row, column[segment]] = score
    return ids, similarity


def motion_variants(clip: SynthClip) -> list[str]:
    """The clip's caption with its first object's motion set to each of MOTIONS in turn."""
    first, *others = clip.objects
    return [SynthClip(clip.background, (dataclasses.replace(first, motion=m), *others)).caption for m in MOTIONS]


def _json_number(value):
    if isinstance(value, float):
        return None if np.isnan(value) else round(value, 4)
    return value


def gop_label(gop: int | None, fps: int) -> str:
    return "default" if gop is None else f"{gop} ({gop / fps:g} s)"


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache-dir", type=Path, help="the demo's cache (default: ~/.cache/vidseek/demo)")
    parser.add_argument("--clips", type=int, default=DEMO.clips, help=f"demo clips in all, 10%% held out (default: {DEMO.clips})")
    parser.add_argument("--epochs", type=int, default=DEMO.epochs, help=f"demo fine-tuning epochs (default: {DEMO.epochs})")
    parser.add_argument("--frames", type=int, default=DEMO.frames, help=f"frames per segment (default: {DEMO.frames})")
    parser.add_argument("--seed", type=int, default=DEMO.seed)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--gops", default="default,5,10", help="keyframe intervals in frames; 'default': the encoder's")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="decode workers of each build")
    parser.add_argument("--repeats", type=int, default=5, help="decode-only passes per decoder (best kept)")
    parser.add_argument("--build-repeats", type=int, default=2, help="builds per decoder and GOP (best kept)")
    parser.add_argument("--work-dir", type=Path, help="where the re-encoded clips and indexes go (default: a temp dir)")
    return parser.parse_args()


@dataclasses.dataclass
class Bench:
    """What every measurement shares: the options, the demo (data and model), its held-out clips, the encoder."""

    args: argparse.Namespace
    options: DemoOptions
    demo: DemoResult
    clips: list[SynthClip]
    encoder: VideoEncoder
    short_side: int

    @property
    def synth(self):
        return self.options.synth


def prepare(args: argparse.Namespace) -> Bench:
    """The offline demo's data and fine-tuned model (made or reused under its cache) and the held-out clips."""
    options = DemoOptions(
        cache_dir=args.cache_dir or default_cache_dir(),
        clips=args.clips,
        epochs=args.epochs,
        frames=args.frames,
        seed=args.seed,
        device=args.device,
        progress=sys.stderr.isatty(),
    )
    demo = run_demo(options, say)
    say(f"demo: {demo.folder} (reused: {', '.join(demo.reused) or 'nothing'}; R@1 of its own index {demo.r1:.3f})")
    clips = plan_split(options.synth)[1]
    encoder = load_encoder(options.model, str(demo.checkpoint), options.device)
    return Bench(args, options, demo, clips, encoder, decode_short_side(encoder.preprocess.resize))


def held_out_files(bench: Bench, gop: int | None, work: Path) -> tuple[Path, list[Path]]:
    """The library of held-out clips written with a keyframe every ``gop`` frames (None: the demo's own), and its files."""
    if gop is None:
        library = bench.demo.folder / "data" / "videos" / "test"  # the demo's own held-out clips
    else:
        say(f"writing the {len(bench.clips)} held-out clips again with a keyframe every {gop} frames")
        generate(work / f"gop{gop}", dataclasses.replace(bench.synth, gop=gop), splits=("test",))
        library = work / f"gop{gop}" / "videos" / "test"
    files = sorted(library.glob("*.mp4"))  # NNNNN-<slug>.mp4, in plan order
    if len(files) != len(bench.clips) or not all(f.stem.endswith(c.slug) for f, c in zip(files, bench.clips)):
        raise SystemExit(f"{library} does not hold the planned held-out clips: delete {bench.demo.folder} and rerun")
    return library, files


def bench_gop(bench: Bench, n: int, gop: int | None, work: Path) -> list[dict]:
    """One row per decoder for the clips written with ``gop``: decode-only rate, build rate and retrieval."""
    args, frames = bench.args, bench.options.frames
    library, files = held_out_files(bench, gop, work)
    keyframes = keyframes_per_clip(files)
    decode = {d: [] for d in DECODERS}
    distinct = {}
    for _ in range(args.repeats):  # interleaved, so drift in the shared CPU hits both decoders alike
        for decoder in DECODERS:
            seconds, distinct[decoder] = decode_only(decoder, files, frames, bench.short_side)
            decode[decoder].append(seconds)
    rows = []
    for decoder in DECODERS if n % 2 == 0 else DECODERS[::-1]:  # alternate which decoder builds first
        say(f"gop {gop_label(gop, bench.synth.fps)}: building with {decoder}")
        build = BuildOptions(
            library,
            work / f"index-{gop or 'default'}-{decoder}",
            frames=frames,
            segment_seconds=SEGMENT_SECONDS,
            workers=args.workers,
            decoder=decoder,
            rebuild=True,
            progress=False,
            previews="off",  # the decoders' cost alone
        )
        build_rates = []
        for _ in range(args.build_repeats):
            report = build_index(bench.encoder, build)
            if report.failed or report.segments != len(files):
                raise SystemExit(f"the {decoder} build is incomplete: {report.summary()}")
            build_rates.append(report.segments_per_second)
        rows.append(
            {
                "gop": gop,
                "decoder": decoder,
                "keyframes_per_clip": keyframes,
                "distinct_frames_per_segment": distinct[decoder],
                **retrieval(bench.encoder, build.index_dir, bench.clips, files),
                "decode_segments_per_s": len(files) / min(decode[decoder]),
                "build_segments_per_s": max(build_rates),
            }
        )
    return rows


def compare_to_exact(rows: list[dict]) -> None:
    """Add each row's ratios to the exact decoder's row of the same GOP."""
    for row in rows:
        exact = next(r for r in rows if r["gop"] == row["gop"] and r["decoder"] == "pyav")
        row["r1_vs_exact"] = row["t2v_r1"] / exact["t2v_r1"] if exact["t2v_r1"] else float("nan")
        row["r1_lost"] = int((exact["_r1_hits"] & ~row["_r1_hits"]).sum())  # captions exact frames answer first, this not
        row["r1_won"] = int((~exact["_r1_hits"] & row["_r1_hits"]).sum())
        row["motion_vs_exact"] = row["motion_top1"] / exact["motion_top1"] if exact["motion_top1"] else float("nan")
        row["decode_vs_exact"] = row["decode_segments_per_s"] / exact["decode_segments_per_s"]
        row["build_vs_exact"] = row["build_segments_per_s"] / exact["build_segments_per_s"]


def print_table(bench: Bench, rows: list[dict], total: float) -> None:
    args, options, synth, clips, demo = bench.args, bench.options, bench.synth, bench.clips, bench.demo
    print(
        f"\n--fast-seek (pyav-keyframes) vs exact frames (pyav) on the offline demo: {options.model} fine-tuned "
        f"{options.epochs} epochs on {options.clips - len(clips)} synthetic clips; {len(clips)} held-out clips x "
        f"{synth.seconds:g} s at {synth.fps} fps, {synth.size}x{synth.size}, {options.frames} frames/segment, chance R@1 "
        f"{1 / len(clips):.3f}; decode-only: 1 process, best of {args.repeats}; build: {args.workers} decode workers, "
        f"device {bench.encoder.device}"
    )
    header = (
        f"{'GOP (frames)':<14}{'decoder':<16}{'key/clip':>9}{'frames/seg':>11}{'R@1':>7}{'R@5':>7}{'MedR':>6}"
        f"{'R@1 lost/won':>13}{'motion top-1':>13}{'decode seg/s':>13}{'build seg/s':>12}"
        f"{'R@1 vs exact':>13}{'motion vs exact':>16}{'decode vs exact':>16}{'build vs exact':>15}"
    )
    print(header)
    for r in rows:
        changed = f"-{r['r1_lost']}/+{r['r1_won']}"
        print(
            f"{gop_label(r['gop'], synth.fps):<14}{r['decoder']:<16}{r['keyframes_per_clip']:>9.1f}"
            f"{r['distinct_frames_per_segment']:>11.1f}{r['t2v_r1']:>7.3f}{r['t2v_r5']:>7.3f}{r['t2v_medr']:>6g}"
            f"{changed:>13}{r['motion_top1']:>13.3f}{r['decode_segments_per_s']:>13.1f}"
            f"{r['build_segments_per_s']:>12.1f}{r['r1_vs_exact']:>13.2f}{r['motion_vs_exact']:>16.2f}"
            f"{r['decode_vs_exact']:>16.2f}{r['build_vs_exact']:>15.2f}"
        )
    print(
        f"key/clip: keyframes per clip; frames/seg: distinct frames among the {options.frames} sampled. R@1 lost/won: "
        f"held-out captions answered first by exact frames and not by this decoder / the reverse (one caption = "
        f"{1 / len(clips):.2f} of R@1). motion top-1: the clip's own caption scored above the same caption with the "
        f"first object's motion swapped for each of the {len(MOTIONS) - 1} others (chance {1 / len(MOTIONS):.2f}). "
        f"build seg/s: whole build_index of {len(clips)} tiny clips (worker start, encoding, posters, publish), best of "
        f"{args.build_repeats}: decoding is a small share of it here (benchmarks/bench_index.py measures speed at "
        f"scale). The demo's own index (pyav, default GOP) answers R@1 {demo.r1:.3f}. {total:.0f} s in all (demo "
        f"data and model {'reused' if demo.reused else 'made here'})."
    )
    exact_motion = [r["motion_top1"] for r in rows if r["decoder"] == "pyav"]
    if exact_motion and max(exact_motion) < 2 / len(MOTIONS):
        print(
            f"Caveat: with exact frames motion top-1 is {max(exact_motion):.2f}, near chance: this model does not read "
            "motion, so this run cannot show what keyframe sampling costs motion queries; the R@1 above is appearance "
            "(colour, shape, size, background)."
        )


def summary_json(bench: Bench, rows: list[dict], total: float) -> str:
    options, synth = bench.options, bench.synth
    return json.dumps(
        {
            "benchmark": "fast_seek_retrieval",
            "model": options.model,
            "epochs": options.epochs,
            "clips": options.clips,
            "test_clips": len(bench.clips),
            "seconds_per_clip": synth.seconds,
            "fps": synth.fps,
            "frames": options.frames,
            "workers": bench.args.workers,
            "demo_r1": round(bench.demo.r1, 4),
            "demo_reused": bench.demo.reused,
            "total_seconds": round(total, 1),
            "rows": [{k: _json_number(v) for k, v in r.items() if not k.startswith("_")} for r in rows],
        }
    )


def main() -> int:
    args = parse_args()
    gops = [None if g == "default" else int(g) for g in args.gops.split(",") if g]
    started = time.perf_counter()
    bench = prepare(args)
    rows = []
    with tempfile.TemporaryDirectory(prefix="vidseek-bench-fast-seek-") as tmp:
        work = args.work_dir or Path(tmp)
        for n, gop in enumerate(gops):
            rows += bench_gop(bench, n, gop, work)
    rows.sort(key=lambda r: (gops.index(r["gop"]), DECODERS.index(r["decoder"])))
    compare_to_exact(rows)
    total = time.perf_counter() - started
    print_table(bench, rows, total)
    print(summary_json(bench, rows, total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
