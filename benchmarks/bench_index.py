"""Indexing pipeline vs its stages, measured in one run on a generated library.

    python benchmarks/bench_index.py [--clips 12] [--seconds 10] [--size 640x360] [--model vidseek-tiny]

Prints segments/s of the whole `index build` next to decode-only (same sampling, same worker count)
and encode-only (already-decoded frames, same model and batch) throughput, and the ratio of the build
to the slower stage (the goal: >= 0.9 when the stages overlap). Ends with one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from indexer.build import POSTER_SHORT_SIDE, BuildOptions, build_index  # noqa: E402
from indexer.segment import plan_segments  # noqa: E402
from indexer.tasks import decode_segments, probe_video  # noqa: E402
from models import load_encoder  # noqa: E402
from tests.videos import make_video  # noqa: E402


def make_library(root: Path, clips: int, seconds: float, size: tuple[int, int]) -> list[Path]:
    colors = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40), (40, 200, 200), (200, 40, 200)]
    return [
        make_video(root / f"clip{i:03d}.mp4", seconds, fps=25, color=colors[i % len(colors)], size=size, gop=25)
        for i in range(clips)
    ]


def decode_only(paths, frames, segment_seconds, short_side, workers, decoder="pyav"):
    """Steady-state decode throughput: the workers are started and have imported the decoder before the clock starts."""
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_warm_up, [(decoder, str(paths[0]))] * workers))
        started = time.perf_counter()
        jobs = [(decoder, str(p), frames, segment_seconds, short_side) for p in paths]
        results = list(pool.map(_decode_file, jobs))
        seconds = time.perf_counter() - started
    clips = [clip for result in results for clip in result]
    return len(clips), seconds, clips


def _warm_up(args):
    decoder, path = args
    probe_video(decoder, path)
    time.sleep(0.2)  # so that every worker gets one


def _decode_file(args):
    decoder, path, frames, segment_seconds, short_side = args
    info = probe_video(decoder, path)
    return list(decode_segments(decoder, path, plan_segments(info.duration, segment_seconds), frames, short_side).clips)


def other_backends(names, paths, frames, short_side, workers) -> dict[str, float | str]:
    """Decode-only segments/s of each other backend (pyav-keyframes = --fast-seek), same files, sampling and workers
    (decord runs behind its per-read spot check against PyAV, as the indexer runs it)."""
    rates: dict[str, float | str] = {}
    for name in names:
        try:
            segments, seconds, _ = decode_only(paths, frames, 10.0, short_side, workers, decoder=name)
            rates[name] = segments / seconds
        except Exception as exc:  # noqa: BLE001 - a backend that is not installed here is reported, not fatal
            rates[name] = f"unavailable: {str(exc).splitlines()[0][:80]}"
    return rates


def encode_only(encoder, clips, batch_size):
    started = time.perf_counter()
    for first in range(0, len(clips), batch_size):
        encoder.encode_videos(clips[first : first + batch_size])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--model", default="vidseek-tiny")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--backends", default="pyav-keyframes,decord,torchcodec", help="other decoders to time decode-only, beside PyAV"
    )
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))

    encoder = load_encoder(args.model, "none", args.device)
    short_side = max(encoder.preprocess.resize, POSTER_SHORT_SIDE)
    with tempfile.TemporaryDirectory() as tmp:
        library = Path(tmp) / "library"
        paths = make_library(library, args.clips, args.seconds, (width, height))
        segments, decode_s, clips = decode_only(paths, args.frames, 10.0, short_side, args.workers)
        backends = other_backends([b for b in args.backends.split(",") if b], paths, args.frames, short_side, args.workers)
        encode_only(encoder, clips[: args.batch_size], args.batch_size)  # warm-up
        encode_s = encode_only(encoder, clips, args.batch_size)
        options = BuildOptions(
            library,
            Path(tmp) / "index",
            frames=args.frames,
            segment_seconds=10.0,
            batch_size=args.batch_size,
            workers=args.workers,
            progress=False,
        )
        report = build_index(encoder, options)
    rates = {
        "decode_only": segments / decode_s,
        "encode_only": segments / encode_s,
        "build": report.segments / report.seconds,
    }
    slower = min(rates["decode_only"], rates["encode_only"])
    ratio = rates["build"] / slower
    print(
        f"\nindexing {args.clips} clips x {args.seconds:g}s at {args.size}, {args.model}, {args.frames} frames/segment, "
        f"{args.workers} decode workers, batch {args.batch_size}, device {encoder.device}"
    )
    print(f"{'stage':<14}{'segments/s':>12}{'frames/s':>12}{'vs slower stage':>18}")
    for name, rate in rates.items():
        print(f"{name:<14}{rate:>12.2f}{rate * args.frames:>12.1f}{rate / slower:>18.2f}")
    print(f"build / min(decode, encode) = {ratio:.2f}  (goal >= 0.90)")
    print(f"\ndecode-only per backend (same files, sampling and {args.workers} workers)")
    print(f"{'pyav':<14}{rates['decode_only']:>12.2f}{1.0:>12.2f}  (vs PyAV)")
    for name, rate in backends.items():
        if isinstance(rate, float):
            print(f"{name:<14}{rate:>12.2f}{rate / rates['decode_only']:>12.2f}")
        else:
            print(f"{name:<14}  {rate}")
    print(
        json.dumps(
            {
                "benchmark": "index_pipeline",
                "clips": args.clips,
                "size": args.size,
                "model": args.model,
                "frames": args.frames,
                "workers": args.workers,
                "segments": segments,
                **{f"{k}_segments_per_s": round(v, 3) for k, v in rates.items()},
                "build_vs_slower_stage": round(ratio, 3),
                "decode_only_by_backend": {"pyav": round(rates["decode_only"], 3)}
                | {k: round(v, 3) if isinstance(v, float) else v for k, v in backends.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
