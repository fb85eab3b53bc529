"""What browser-playable previews and sprite sheets cost an index build, measured in one run on a mixed library.

    python benchmarks/bench_previews.py [--files 8] [--seconds 20] [--size 640x360] [--model vidseek-tiny]
                                        [--frames 8] [--workers N] [--device auto] [--precision auto] [--repeats 1]

The library (``tests/formats.write_mixed_library``) is half H.264 in MP4, which every browser plays, and half
files that need a preview: MPEG-4 in AVI, MPEG-2 in MPEG-PS and HEVC in Matroska in turn, each with a tone, a
panning textured background with grain and a moving square, at its codec's usual bit rate (about 0.7 to 1.9 Mb/s
at 640x360), so that sizes and encoding costs resemble footage's rather than a flat colour's. It is indexed
into fresh index dirs with ``previews="off"`` and ``previews="auto"``, after untimed warm-up builds of two small
files, one per mode, so that neither pays a first build's imports (``--repeats N``: N builds per mode, taking
turns, the fastest counting). For each mode the table shows the build's wall-clock seconds, segments/s and
video-seconds/s, their ratio to ``off``, and what the build left under ``INDEX_DIR/previews`` and
``INDEX_DIR/sprites`` (files, bytes, share of the originals' bytes). The goals: previews cost at most 30 % of
the build's throughput (auto/off >= 0.70), and previews take at most 10 % of the originals' size (sprites are
shown beside, and both together). Ends with one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Only torch-free imports at module level: spawned decode workers import this module again.
from indexer.index_dir.layout import PREVIEWS, SPRITES  # noqa: E402

MODES = ("off", "auto")
GOAL_RATIO = 0.70  # auto/off throughput
GOAL_SHARE = 0.10  # previews over the originals' bytes (sprites are shown beside)
NATIVE_SUFFIX = ".mp4"  # write_mixed_library's files that play natively; the others need a preview


def folder_bytes(folder: Path) -> tuple[int, int]:
    """Files under ``folder`` and their total size (0, 0 where it does not exist)."""
    files = [path for path in folder.rglob("*") if path.is_file()] if folder.is_dir() else []
    return len(files), sum(path.stat().st_size for path in files)


def build_options(library: Path, index_dir: Path, args, previews: str, extensions: frozenset[str]):
    from indexer.pipeline.options import BuildOptions

    return BuildOptions(
        library,
        index_dir,
        frames=args.frames,
        segment_seconds=args.segment_seconds,
        batch_size=args.batch_size,
        workers=args.workers,
        progress=False,
        extensions=extensions,
        previews=previews,
    )


def measure_mode(encoder, args, library: Path, index_dir: Path, mode: str, extensions: frozenset[str]) -> dict:
    """One table row: build ``library`` into the fresh ``index_dir`` with ``previews=mode`` and weigh its output."""
    from indexer.pipeline.local import build_index

    started = time.perf_counter()
    report = build_index(encoder, build_options(library, index_dir, args, mode, extensions))
    seconds = time.perf_counter() - started
    previews, preview_bytes = folder_bytes(index_dir / PREVIEWS)
    sprite_files, sprite_bytes = folder_bytes(index_dir / SPRITES)
    return {
        "mode": mode,
        "scanned": report.files,
        "indexed": report.indexed,
        "failed": [f"{Path(path).name}: {reason}" for path, reason in report.failed],
        "preview_failed": [f"{Path(path).name}: {reason}" for path, reason in report.preview_failed],
        "preview_s": report.preview_seconds,
        "segments": report.segments,
        "build_s": seconds,
        "segments_per_s": report.segments / seconds,
        "video_s_per_s": report.indexed * args.seconds / seconds,
        "previews": sum(1 for _ in (index_dir / PREVIEWS).glob("*.mp4")),
        "sprite_sheets": sum(1 for _ in (index_dir / SPRITES).glob("*.jpg")),
        "preview_bytes": preview_bytes,
        "sprite_bytes": sprite_bytes,
        "extra_files": previews + sprite_files,
    }


def fastest_rows(encoder, args, library: Path, tmp: Path, extensions: frozenset[str]) -> list[dict]:
    """Each mode's fastest of ``args.repeats`` builds, the modes taking turns, each into a fresh index dir."""
    best: dict[str, dict] = {}
    for repeat in range(args.repeats):
        for mode in MODES:
            row = measure_mode(encoder, args, library, tmp / f"index-{mode}-{repeat}", mode, extensions)
            if mode not in best or row["build_s"] < best[mode]["build_s"]:
                best[mode] = row
    return [best[mode] for mode in MODES]


def add_shares(rows: list[dict], paths: list[Path]) -> None:
    """Ratios within the run: throughput to ``off``'s, bytes to the originals' (all, and those needing a preview)."""
    original = sum(path.stat().st_size for path in paths)
    needing = sum(path.stat().st_size for path in paths if path.suffix != NATIVE_SUFFIX)
    off = next(row for row in rows if row["mode"] == "off")
    for row in rows:
        row["vs_off"] = row["segments_per_s"] / off["segments_per_s"] if off["segments_per_s"] else 0.0
        row["previews_share"] = row["preview_bytes"] / original
        row["sprites_share"] = row["sprite_bytes"] / original
        row["extra_share"] = (row["preview_bytes"] + row["sprite_bytes"]) / original
        row["previews_vs_needing"] = row["preview_bytes"] / needing if needing else 0.0


def verdict(ok: bool | None) -> str:
    return "not measured: no preview made" if ok is None else "met" if ok else "MISSED"


def print_table(args, rows: list[dict], paths: list[Path], device: str) -> None:
    needing = sum(1 for path in paths if path.suffix != NATIVE_SUFFIX)
    original = sum(path.stat().st_size for path in paths)
    print(
        f"\nindexing {len(paths)} files x {args.seconds:g}s at {size_text(args.size)} ({len(paths) - needing} H.264 MP4, "
        f"{needing} needing a preview: MPEG-4 AVI, MPEG-2 MPG, HEVC MKV; {original / 1e6:.1f} MB), model {args.model}, "
        f"{args.frames} frames/segment, {args.workers} decode workers, device {device}"
    )
    columns = {  # header: (row key, width, format)
        "indexed": ("indexed", 8, "d"),
        "segments": ("segments", 9, "d"),
        "build s": ("build_s", 9, ".2f"),
        "segments/s": ("segments_per_s", 11, ".2f"),
        "video-s/s": ("video_s_per_s", 10, ".1f"),
        "vs off": ("vs_off", 8, ".2f"),
        "preview s": ("preview_s", 10, ".2f"),
        "previews": ("previews", 9, "d"),
        "sprites": ("sprite_sheets", 8, "d"),
        "preview MB": ("preview_mb", 11, ".2f"),
        "sprite MB": ("sprite_mb", 10, ".2f"),
        "previews/orig": ("previews_share", 14, ".1%"),
        "sprites/orig": ("sprites_share", 13, ".1%"),
        "both/orig": ("extra_share", 10, ".1%"),
    }
    print(f"{'previews':<10}" + "".join(f"{name:>{width}}" for name, (_, width, _) in columns.items()))
    for row in rows:
        row = {**row, "preview_mb": row["preview_bytes"] / 1e6, "sprite_mb": row["sprite_bytes"] / 1e6}
        print(f"{row['mode']:<10}" + "".join(f"{row[key]:>{width}{fmt}}" for key, width, fmt in columns.values()))
        for failure in row["failed"]:
            print(f"  failed: {failure}")
        for failure in row["preview_failed"]:
            print(f"  no preview: {failure}")
    auto = next(row for row in rows if row["mode"] == "auto")
    ratio_ok, share_ok = goals(auto, needing)
    print(
        f"auto/off throughput {auto['vs_off']:.2f} (goal >= {GOAL_RATIO:.2f}: {verdict(ratio_ok)}); "
        f"previews {auto['previews_share']:.1%} of the originals' bytes (goal <= {GOAL_SHARE:.0%}: {verdict(share_ok)}; "
        f"with the sprites {auto['extra_share']:.1%}); previews are {auto['previews_vs_needing']:.1%} of the files they "
        "stand in for"
    )
    for row in rows:
        if row["scanned"] < len(paths):
            print(
                f"note: the {row['mode']} build scanned {row['scanned']} of the {len(paths)} files (its extensions: "
                f"{', '.join(sorted({path.suffix for path in paths}))}; BuildOptions.extensions not honoured?)"
            )
        elif row["indexed"] < len(paths):
            print(f"note: the {row['mode']} build indexed {row['indexed']} of the {len(paths)} files (see the failures)")
    if auto["previews"] == 0 and needing:
        print(f"note: previews=auto made no preview for the {needing} file(s) that need one")


def goals(auto: dict, needing: int) -> tuple[bool | None, bool | None]:
    """Whether the auto row meets each goal; None for one that was not measured (no preview made where needed)."""
    if needing and auto["previews"] == 0:
        return None, None
    return auto["vs_off"] >= GOAL_RATIO, auto["previews_share"] <= GOAL_SHARE


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = map(int, text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a frame size: {text!r} (give WIDTHxHEIGHT, e.g. 640x360)") from None
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise argparse.ArgumentTypeError(f"{text}: the width and height must be even and at least 16 (4:2:0 video)")
    return width, height


def size_text(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=8, help="library files: half H.264 MP4, half needing a preview")
    parser.add_argument("--seconds", type=float, default=20.0, help="each file's length")
    parser.add_argument("--size", type=parse_size, default="640x360", help="frame size, WIDTHxHEIGHT")
    parser.add_argument("--model", default="vidseek-tiny", help="an open_clip model name (random weights)")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--segment-seconds", type=float, default=10.0)
    parser.add_argument(
        "--batch-size",
        type=lambda text: None if text == "auto" else int(text),
        default=None,
        help="segments per batch, or auto (default): as `index build` sizes it",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--precision", default="auto", choices=["auto", "float32", "bfloat16"], help="as `index build --precision`"
    )
    parser.add_argument("--repeats", type=int, default=1, help="builds per mode, taking turns; the fastest counts")
    args = parser.parse_args()
    if args.files < 2:
        parser.error("--files must be at least 2: one that plays natively and one that needs a preview")
    return args


def summary_json(args, rows: list[dict], paths: list[Path], device: str, precision: str) -> str:
    keep = ("mode", "indexed", "segments", "previews", "sprite_sheets", "preview_bytes", "sprite_bytes")
    ratios = (
        "build_s",
        "preview_s",
        "segments_per_s",
        "video_s_per_s",
        "vs_off",
        "previews_share",
        "sprites_share",
        "extra_share",
        "previews_vs_needing",
    )
    auto = next(row for row in rows if row["mode"] == "auto")
    ratio_ok, share_ok = goals(auto, sum(1 for path in paths if path.suffix != NATIVE_SUFFIX))
    return json.dumps(
        {
            "benchmark": "previews",
            "files": len(paths),
            "seconds": args.seconds,
            "size": size_text(args.size),
            "model": args.model,
            "frames": args.frames,
            "workers": args.workers,
            "device": device,
            "precision": precision,
            "original_bytes": sum(path.stat().st_size for path in paths),
            "rows": [{**{k: row[k] for k in keep}, **{k: round(row[k], 4) for k in ratios}} for row in rows],
            "auto_vs_off": round(auto["vs_off"], 4),
            "auto_previews_share": round(auto["previews_share"], 4),
            "auto_extra_share": round(auto["extra_share"], 4),
            "throughput_goal_met": ratio_ok,
            "size_goal_met": share_ok,
        }
    )


def main() -> None:
    args = parse_args()

    from models import load_encoder
    from models.quantize import image_encoder_at, image_precision
    from tests.formats import write_mixed_library

    encoder = image_encoder_at(load_encoder(args.model, "none", args.device), args.precision)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        library = Path(tmp) / "library"
        paths = write_mixed_library(library, args.files, args.seconds, args.size)
        print(f"wrote the library ({len(paths)} files) in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        extensions = frozenset(path.suffix for path in paths)
        warm_up = write_mixed_library(Path(tmp) / "warm-up", 2, 2.0, (320, 180))[0].parent
        for mode in MODES:
            measure_mode(encoder, args, warm_up, Path(tmp) / f"index-warm-up-{mode}", mode, extensions)
        rows = fastest_rows(encoder, args, library, Path(tmp), extensions)
        add_shares(rows, paths)
        device, precision = encoder.device, image_precision(encoder)
        print_table(args, rows, paths, f"{device}, {precision}")
        print(summary_json(args, rows, paths, device, precision))


if __name__ == "__main__":
    main()
