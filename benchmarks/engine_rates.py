"""The image tower on each engine and precision (models.engines) in one run: frames/s of encode-only, interleaved so
that every engine sees the same machine (a shared 2-core box drifts by 2x within minutes), and the whole build's
segments/s with each; ratios to torch bfloat16 (float32 where the CPU lacks native bfloat16), today's default path.
Used by bench_index.py (``--engines``)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

REFERENCE_ENGINE = "torch"


def parse_engines(text: str) -> list[tuple[str, str]]:
    """``torch:bfloat16,onnxruntime:int8,openvino`` -> [(engine, precision)] (a bare engine: precision auto);
    ``auto``: torch at its default precision and every installed engine at every precision it runs here."""
    from models.encoder import native_bfloat16
    from models.engines import ort, ov

    if text != "auto":
        return [(part.partition(":")[0], part.partition(":")[2] or "auto") for part in text.split(",") if part]
    torch_precision = "bfloat16" if native_bfloat16() else "float32"
    specs = [(REFERENCE_ENGINE, torch_precision)]
    for backend in (ort, ov):
        if backend.available():
            specs += [(backend.ENGINE, p) for p in backend.PRECISIONS if p != "bfloat16" or native_bfloat16()]
    return specs


def engine_encoders(encoder, specs, calibration, cache_dir: Path) -> dict[str, object]:
    """``label -> encoder`` for each (engine, precision) of ``specs`` that can run here; the others are reported."""
    from models.engines import EngineError, engine_encoder

    encoders = {}
    for engine, precision in specs:
        try:
            started = time.perf_counter()
            made = engine_encoder(encoder, engine, precision, "image", cache_dir, calibration)
            made.encode_videos(calibration[:1])
            label = f"{made.image_engine}:{made.image_precision}"
            encoders[label] = made
            print(f"  {label}: ready in {time.perf_counter() - started:.1f}s (export, quantisation, compilation)")
        except (EngineError, ValueError) as exc:
            print(f"  {engine}:{precision}: unavailable: {exc}")
    return encoders


def interleaved_frames_per_s(encoders: dict, clips: list, batch_size: int, frames: int, rounds: int = 3) -> dict[str, dict]:
    """Encode-only frames/s of each encoder over the same clips, one batch of each in turn, ``rounds`` times: the
    median and the best of the rounds."""
    batches = [clips[i : i + batch_size] for i in range(0, len(clips), batch_size)]
    times: dict[str, list[float]] = {label: [] for label in encoders}
    for encoder in encoders.values():
        encoder.encode_videos(batches[0])  # warm-up: first-call allocations, OpenMP and runtime thread pools
    for _ in range(rounds):
        for label, encoder in encoders.items():
            started = time.perf_counter()
            for batch in batches:
                encoder.encode_videos(batch)
            times[label].append(time.perf_counter() - started)
    total = len(clips) * frames
    return {
        label: {"frames_per_s": total / statistics.median(t), "best_frames_per_s": total / min(t)} for label, t in times.items()
    }


def reference_label(rates: dict) -> str | None:
    return next((label for label in rates if label.startswith(REFERENCE_ENGINE + ":")), None)


def print_engine_table(model: str, size: str, rows: dict[str, dict]) -> None:
    """rows: label -> {"frames_per_s", "best_frames_per_s", and the build's "build", "build_steady", "bound",
    "decode_only"} (segments/s)."""
    reference = reference_label(rows)
    print(f"\nimage tower by engine, {model} at {size} (encode-only frames/s interleaved; builds in segments/s)")
    header = ["engine:precision", "frames/s", "best", "x ref", "build", "steady", "bound", "steady/bound", "build x ref"]
    widths = [22, 10, 9, 8, 8, 8, 8, 14, 13]
    print("".join(f"{h:<{w}}" if i == 0 else f"{h:>{w}}" for i, (h, w) in enumerate(zip(header, widths))))
    for label, row in rows.items():
        ref = rows[reference] if reference else row
        values = [
            row["frames_per_s"],
            row["best_frames_per_s"],
            row["frames_per_s"] / ref["frames_per_s"],
            row["build"],
            row["build_steady"],
            row["bound"],
            row["build_steady"] / row["bound"],
            row["build"] / ref["build"],
        ]
        print(f"{label:<22}" + "".join(f"{v:>{w}.2f}" for v, w in zip(values, widths[1:])))
    print(
        f"x ref: over {reference or 'the first row'} (today's default path; goal: >= 2.0 for the image tower); bound: "
        "1/(1/decode + 1/encode) of that engine's encode-only rate, the best a build sharing the CPU can do"
    )


def engine_json(rows: dict[str, dict]) -> dict:
    reference = reference_label(rows)
    out = {}
    for label, row in rows.items():
        ref = rows[reference] if reference else row
        out[label] = {k: round(v, 3) for k, v in row.items() if isinstance(v, float)}
        out[label]["frames_per_s_vs_reference"] = round(row["frames_per_s"] / ref["frames_per_s"], 3)
        out[label]["build_vs_reference"] = round(row["build"] / ref["build"], 3)
    return {"reference": reference, "by_engine": out}
