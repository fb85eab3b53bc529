"""Indexing pipeline vs its stages, measured in one run on generated libraries (H.264).

    python benchmarks/bench_index.py [--clips 60] [--seconds 10] [--size 640x360,1280x720]
                                     [--model vidseek-tiny,ViT-B-32] [--backends auto|pyav-keyframes,decord,...]
                                     [--batch-size auto] [--device auto] [--precision auto]
                                     [--engines auto|torch:bfloat16,openvino:int8,...] [--engine-models ViT-B-32]

The defaults are the performance issue's benchmark (about 5 minutes on 2 CPU cores); on a GPU machine add
``--model ViT-B-16`` (ViFi-CLIP's backbone) and read the build's frames/s and build/encode columns.

For each frame size and model, prints segments/s of the whole `index build` next to decode-only (same
sampling, same worker count, workers already started) and encode-only (already-decoded frames, same model
and batch) throughput, and the ratio of the build to the slower stage (the goal: >= 0.9 when the stages
overlap). The build is shown twice: in total, and steady (without its fixed costs: start-up until the first
decoded frames come back, i.e. scan, catalog and starting the decode workers, and publishing at the end), whose
seconds are listed beside it. Where the model runs on the CPU, decoding and embedding share its cores, so no
build can beat 1/(1/decode + 1/encode) (the "bound" column; min(decode, encode) on a GPU): steady/bound says how
close the pipeline comes to it. Then decode-only per decoder backend for each size (default: every registered
backend that can read the files here). Then the whole build with --segments shots vs fixed over one more library
(as many clips, as long, as large, made of shots with hard cuts: benchmarks/shots_vs_fixed.py)
(segments, segments/s, video-seconds/s, their ratio: goal >= 0.7) and the shot detector's precision and recall on
synthetic videos of known cuts (tests/shot_videos.py), beside PySceneDetect's where it is installed. Then the image
tower on each engine and precision (benchmarks/engine_rates.py: torch, ONNX Runtime, OpenVINO; float32, bfloat16,
int8) for ViT-B-32: encode-only frames/s and the whole build, as ratios to torch bfloat16. Ends with one line of JSON.
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

# Only torch-free imports at module level: spawned decode workers import this module again (as the build's
# workers import the light `vidseek` entry point), and torch here would add seconds to every worker's start.
from benchmarks.shots_vs_fixed import (  # noqa: E402
    detector_accuracy,
    make_shots_library,
    measure_segmenters,
    print_segmenters,
)
from indexer.clips import decode_segments, probe_video  # noqa: E402
from indexer.decoders.base import DECODERS, get_decoder  # noqa: E402
from indexer.segment import plan_segments  # noqa: E402

REFERENCE = "pyav"


def make_library(root: Path, clips: int, seconds: float, size: tuple[int, int]) -> list[Path]:
    from tests.videos import make_video

    colors = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40), (40, 200, 200), (200, 40, 200)]
    return [
        make_video(root / f"clip{i:03d}.mp4", seconds, fps=25, color=colors[i % len(colors)], size=size, gop=25)
        for i in range(clips)
    ]


def decode_only(paths, frames, segment_seconds, short_side, workers, decoder=REFERENCE):
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


def unusable_backends(names: list[str], path: Path, short_side: int) -> dict[str, str]:
    """The backends of ``names`` that cannot read ``path`` here, and why (not installed...). A backend behind the
    PyAV spot check that fails falls back to PyAV with a note: that counts as not usable."""
    unusable = {}
    for name in names:
        try:
            result = get_decoder(name).read(path, [0.5, 1.5], short_side)
        except Exception as exc:  # noqa: BLE001 - any reason is reported, not fatal
            unusable[name] = str(exc).splitlines()[0][:100] or type(exc).__name__
            continue
        if result.note:
            unusable[name] = result.note[:100]
    return unusable


def encode_only(encoder, clips, batch_size):
    started = time.perf_counter()
    for first in range(0, len(clips), batch_size):
        encoder.encode_videos(clips[first : first + batch_size])
    return time.perf_counter() - started


def measure_model(encoder, args, library: Path, decoded: dict, tmp: Path, name: str) -> dict:
    """One table row: decode-only (shared by the models that decode at the same frame size), encode-only, build."""
    from indexer.pipeline.local import build_index
    from indexer.pipeline.options import BuildOptions, batch_size_for, poster_short_side

    short_side = poster_short_side(encoder)
    paths = sorted(library.glob("*.mp4"))
    if short_side not in decoded:
        decoded[short_side] = decode_only(paths, args.frames, 10.0, short_side, args.workers)
    segments, decode_s, clips = decoded[short_side]
    options = BuildOptions(
        library,
        tmp / f"index-{name}",
        frames=args.frames,
        segments="fixed",  # the stages are timed over fixed windows; shots vs fixed: measure_segmenters
        segment_seconds=10.0,
        batch_size=args.batch_size,
        workers=args.workers,
        progress=False,
        previews="off",  # the decode-and-embed pipeline against its stages; what previews cost: make bench-previews
    )
    batch_size = options.batch_size = batch_size_for(encoder, options)  # as index build sizes it
    encode_only(encoder, clips[:batch_size], batch_size)  # warm-up
    encode_s = encode_only(encoder, clips, batch_size)
    report = build_index(encoder, options)
    assert report.segments == segments and not report.failed, report.summary()
    row = {
        "decode_only": segments / decode_s,
        "encode_only": segments / encode_s,
        "build": report.segments_per_second,
        "build_steady": report.steady_segments_per_second,
    }
    slower = min(row["decode_only"], row["encode_only"])
    # On a CPU the stages share the cores: a build does the CPU work of both, in the time of their sum at best.
    bound = 1 / (1 / row["decode_only"] + 1 / row["encode_only"]) if encoder.device == "cpu" else slower
    return {
        **row,
        "bound": bound,
        "build_steady_vs_bound": row["build_steady"] / bound,
        "startup_s": report.startup_seconds,
        "publish_s": report.publish_seconds,
        "build_vs_slower": row["build"] / slower,
        "build_steady_vs_slower": row["build_steady"] / slower,
        "build_frames_per_s": row["build"] * args.frames,
        "build_vs_encode": row["build"] / row["encode_only"],
        "batch_size": batch_size,
        "short_side": short_side,
        "segments": segments,
    }


def measure_backends(names, library: Path, args, short_side: int, pyav_rate: float) -> dict[str, float | str]:
    """Decode-only segments/s of each other backend (pyav-keyframes = --fast-seek), same files, sampling and workers
    (a backend behind the PyAV spot check runs with it, as the indexer runs it)."""
    paths = sorted(library.glob("*.mp4"))
    skipped = unusable_backends(names, paths[0], short_side)
    rates: dict[str, float | str] = {REFERENCE: pyav_rate}
    for name in names:
        if name in skipped:
            rates[name] = f"unavailable: {skipped[name]}"
            continue
        try:
            segments, seconds, _ = decode_only(paths, args.frames, 10.0, short_side, args.workers, decoder=name)
            rates[name] = segments / seconds
        except Exception as exc:  # noqa: BLE001 - a backend failing here is reported, not fatal
            rates[name] = f"failed: {str(exc).splitlines()[0][:100]}"
    return rates


def measure_engines(args, size: str, tmp: Path) -> dict:
    """The image tower on each engine of ``--engines`` (benchmarks/engine_rates.py) for each ``--engine-models``
    model, over one more library at ``size``: encode-only frames/s interleaved, then a whole build with each."""
    from app.settings import cache_root
    from benchmarks.engine_rates import engine_encoders, engine_json, interleaved_frames_per_s, parse_engines, print_engine_table
    from indexer.pipeline.options import poster_short_side
    from models import load_encoder

    library = tmp / f"engines-{size}"
    paths = make_library(library, args.clips, args.seconds, parse_size(size))
    results = {}
    for model in [m for m in args.engine_models.split(",") if m]:
        base = load_encoder(model, "none", "cpu")
        short_side = poster_short_side(base)
        decoded = {short_side: decode_only(paths, args.frames, 10.0, short_side, args.workers)}
        clips = decoded[short_side][2]
        print(f"\nengines for {model}:")
        encoders = engine_encoders(base, parse_engines(args.engines), clips[:32], cache_root() / "engines")
        batch = args.batch_size or 16
        rates = interleaved_frames_per_s(encoders, clips[: 4 * batch], batch, args.frames)
        rows = {}
        for label, encoder in encoders.items():
            row = measure_model(encoder, args, library, decoded, tmp, f"engines-{size}-{model}-{label.replace(':', '-')}")
            rows[label] = {**rates[label], **{k: row[k] for k in ("build", "build_steady", "bound", "decode_only")}}
        print_engine_table(model, size, rows)
        results[model] = engine_json(rows)
    return results


def parse_size(text: str) -> tuple[int, int]:
    width, height = map(int, text.lower().split("x"))
    return width, height


def print_tables(args, rows: list[dict], backends: dict[str, dict[str, float | str]], device: str) -> None:
    print(
        f"\nindexing {args.clips} clips x {args.seconds:g}s (H.264), {args.frames} frames/segment, "
        f"{args.workers} decode workers, device {device}; segments/s"
    )
    columns = {  # header: (row key, width)
        "batch": ("batch_size", 6),
        "decode": ("decode_only", 9),
        "encode": ("encode_only", 9),
        "bound": ("bound", 8),
        "build": ("build", 8),
        "steady": ("build_steady", 8),
        "start s": ("startup_s", 9),
        "publish s": ("publish_s", 10),
        "build/slower": ("build_vs_slower", 14),
        "steady/slower": ("build_steady_vs_slower", 15),
        "steady/bound": ("build_steady_vs_bound", 14),
        "build frames/s": ("build_frames_per_s", 16),
        "build/encode": ("build_vs_encode", 14),
    }
    print(f"{'size':<11}{'model':<14}" + "".join(f"{name:>{width}}" for name, (_, width) in columns.items()))
    for row in rows:
        print(
            f"{row['size']:<11}{row['model']:<14}"
            + "".join(
                f"{row[key]:>{width}}" if isinstance(row[key], int) else f"{row[key]:>{width}.2f}"
                for key, width in columns.values()
            )
        )
    print(
        "build/slower: the whole build over min(decode, encode) (goal >= 0.90); steady: without start-up and publishing;\n"
        "bound: the best a build can do, min(decode, encode), or on a CPU, where the stages share the cores, "
        "1/(1/decode + 1/encode)"
    )
    print(f"\ndecode-only per backend (same files, sampling and {args.workers} workers; segments/s, ratio to PyAV)")
    for size, rates in backends.items():
        for name, rate in rates.items():
            if isinstance(rate, float):
                print(f"{size:<11}{name:<16}{rate:>9.2f}{rate / rates[REFERENCE]:>9.2f}")
            else:
                print(f"{size:<11}{name:<16}  {rate}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", default="640x360,1280x720", help="frame sizes, comma-separated")
    parser.add_argument(
        "--model", default="vidseek-tiny,ViT-B-32", help="open_clip model names (random weights), comma-separated"
    )
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument(
        "--batch-size",
        type=lambda text: None if text == "auto" else int(text),
        default=None,
        help="segments per batch, or auto (default): as `index build` sizes it (16 on a CPU, GPU memory on CUDA)",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "float32", "bfloat16"],
        help="the image tower's precision, as `index build --precision` (auto: bfloat16 where the CPU has it natively)",
    )
    parser.add_argument(
        "--engines",
        default="auto",
        help="image-tower engines to compare, engine:precision comma-separated (torch:bfloat16,onnxruntime:int8,...); "
        "auto: torch at its default precision and every installed engine at each precision it has; off: none",
    )
    parser.add_argument("--engine-models", default="ViT-B-32", help="the models the engines are compared on")
    parser.add_argument("--engines-only", action="store_true", help="only the engine comparison (at the first --size)")
    parser.add_argument(
        "--backends",
        default="auto",
        help="decoders to time decode-only beside PyAV, comma-separated; auto: every registered one usable here "
        f"(registered: {', '.join(DECODERS)})",
    )
    return parser.parse_args()


def summary_json(args, rows: list[dict], backends: dict, device: str, precision: str, accuracy: dict, engines: dict) -> str:
    def rounded(row: dict) -> dict:
        return {
            "size": row["size"],
            "model": row["model"],
            "segments": row["segments"],
            "batch_size": row["batch_size"],
            **{f"{k}_segments_per_s": round(row[k], 3) for k in ("decode_only", "encode_only", "bound", "build", "build_steady")},
            "build_startup_s": round(row["startup_s"], 3),
            "build_publish_s": round(row["publish_s"], 3),
            "build_vs_slower_stage": round(row["build_vs_slower"], 3),
            "build_steady_vs_slower_stage": round(row["build_steady_vs_slower"], 3),
            "build_steady_vs_bound": round(row["build_steady_vs_bound"], 3),
            "build_frames_per_s": round(row["build_frames_per_s"], 3),
            "build_vs_encode_only": round(row["build_vs_encode"], 3),
            "segmenters": {name: {k: round(v, 3) for k, v in row["segmenters"][name].items()} for name in ("fixed", "shots")},
            "shots_vs_fixed_video_seconds_per_s": round(row["segmenters"]["shots_vs_fixed"], 3),
            "shots_vs_fixed_segments_per_s": round(row["segmenters"]["shots_vs_fixed_per_segment"], 3),
        }

    return json.dumps(
        {
            "benchmark": "index_pipeline",
            "clips": args.clips,
            "seconds": args.seconds,
            "frames": args.frames,
            "workers": args.workers,
            "batch_size": args.batch_size or "auto",
            "device": device,
            "precision": precision,
            "rows": [rounded(row) for row in rows],
            "shot_detectors": {
                name: {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()} for name, row in accuracy.items()
            },
            "image_tower_by_engine": engines,
            "decode_only_by_backend": {
                size: {k: round(v, 3) if isinstance(v, float) else v for k, v in rates.items()}
                for size, rates in backends.items()
            },
        }
    )


def main() -> None:
    args = parse_args()
    sizes = [s for s in args.size.split(",") if s]
    models = [m for m in args.model.split(",") if m]
    names = [n for n in DECODERS if n != REFERENCE] if args.backends == "auto" else [b for b in args.backends.split(",") if b]

    from models import load_encoder
    from models.quantize import image_encoder_at, image_precision

    encoders = {name: image_encoder_at(load_encoder(name, "none", args.device), args.precision) for name in models}
    precision = image_precision(next(iter(encoders.values())))
    rows, backends, engines, accuracy = [], {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in [] if args.engines_only else sizes:
            library = Path(tmp) / f"library-{size}"
            make_library(library, args.clips, args.seconds, parse_size(size))
            shots_library = Path(tmp) / f"shots-{size}"
            make_shots_library(shots_library, args.clips, args.seconds, parse_size(size))
            decoded: dict = {}  # decode-only results by frame short side (models decoding at the same size share one)
            for model, encoder in encoders.items():
                row = measure_model(encoder, args, library, decoded, Path(tmp), f"{size}-{model}")
                row["segmenters"] = measure_segmenters(encoder, args, shots_library, Path(tmp), f"{size}-{model}")
                rows.append({"size": size, "model": model, **row})
            segments, seconds, _ = decoded[short_side := rows[-1]["short_side"]]
            decoded.clear()
            backends[size] = measure_backends(names, library, args, short_side, segments / seconds)
        if not args.engines_only:
            accuracy = detector_accuracy(Path(tmp))
        if args.engines != "off":
            engines = measure_engines(args, sizes[0], Path(tmp))
    device = next(iter(encoders.values())).device
    if not args.engines_only:
        print_tables(args, rows, backends, f"{device}, {precision}")
        print_segmenters(rows, accuracy)
    print(summary_json(args, rows, backends, device, precision, accuracy, engines))


if __name__ == "__main__":
    main()
