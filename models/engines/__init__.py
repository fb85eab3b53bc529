"""Which engine runs a tower, in which precision: torch, or an exported ONNX graph run by ONNX Runtime or OpenVINO.

:func:`engine_encoder` gives the encoder to index (``tower="image"``) or to embed queries (``tower="text"``) with:
an :class:`~models.engines.base.EngineEncoder` over the float32 model, whose vectors stay within cosine 0.9999
(float) or 0.995 (int8) of the float32 torch ones (tests/models/test_engines.py). ``auto`` takes, for the
precision asked, the engine measured fastest for ViT-B-32 on a 2-core AVX512-BF16/VNNI CPU
(``benchmarks/bench_index.py --engines``) among those installed, and torch where none is (or where the graph's
export fails, for a precision torch runs).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from models.encoder import VideoEncoder, native_bfloat16
from models.engines import ort, ov
from models.engines.base import EngineEncoder, EngineError, EngineUnavailableError, TowerGraph
from models.engines.export import IMAGE, TEXT, float_graph, graph_cache_dir, require_exportable

__all__ = [
    "ENGINES",
    "PRECISIONS",
    "EngineEncoder",
    "EngineError",
    "EngineUnavailableError",
    "TowerGraph",
    "engine_encoder",
    "engine_label",
    "resolve_engine",
]

log = logging.getLogger(__name__)

ENGINES = ("auto", "torch", ort.ENGINE, ov.ENGINE)
PRECISIONS = ("auto", "float32", "bfloat16", "int8")
_BACKENDS = {ort.ENGINE: ort, ov.ENGINE: ov}
_TORCH_PRECISIONS = {IMAGE: ("float32", "bfloat16"), TEXT: ("float32", "bfloat16", "int8")}
# auto: the engines to try for (tower, precision), fastest first. Measured on ViT-B-32's image tower, 2 shared
# AVX512-BF16/VNNI cores, interleaved (benchmarks/bench_index.py --engines-only), encode-only frames/s over torch
# bfloat16: onnxruntime float32 0.71, int8 1.31; openvino float32 0.84, bfloat16 1.71, int8 2.43 (an earlier
# run: openvino bfloat16 1.22); torch float32 ~0.25. bfloat16 stays torch's for now: openvino's lead there was
# 1.2-1.7x on a loaded machine, and it would change every default build's vectors.
# The text tower (queries, cut to their own length by every engine): a batch of 8 captions on the server's one query
# thread, interleaved, two runs, ms per batch wall / CPU: torch bfloat16 31 / 25 and 95 / 31 (a loaded run); openvino
# bfloat16 18 / 18 and 67 / 22 (1.4-1.7x); torch int8 35 / 32 and 142 / 43, onnxruntime int8 17 / 14 and 48 / 16
# (2.1-3.0x), openvino int8 0.4-0.5x (its dynamically quantised graph); float32: torch 76 / 72 and 248 / 79,
# onnxruntime 39 / 36 and 117 / 37 (2.0-2.1x), openvino 41 / 33 and 127 / 37. So auto takes onnxruntime for the
# float32 text tower (the default on CPUs without bfloat16 arithmetic) and the int8 one. bfloat16 stays torch's: in
# bench-query's whole server openvino bfloat16 gave 0.84-1.14x torch's p50.
_FASTEST = {
    (IMAGE, "float32"): (ort.ENGINE, ov.ENGINE, "torch"),
    (IMAGE, "bfloat16"): ("torch",),
    (IMAGE, "int8"): (ov.ENGINE, ort.ENGINE),
    (TEXT, "float32"): (ort.ENGINE, "torch"),
    (TEXT, "bfloat16"): ("torch",),
    (TEXT, "int8"): (ort.ENGINE, "torch"),
}


def concrete_precision(encoder: VideoEncoder, precision: str) -> str:
    """``precision`` checked, with ``auto`` made concrete: bfloat16 on a CPU that multiplies it in hardware, else
    float32 (on CUDA the torch model runs under float16 autocast anyway)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bfloat16" if encoder.device == "cpu" and native_bfloat16() else "float32"
    return precision


def resolve_engine(encoder: VideoEncoder, engine: str, precision: str, tower: str = IMAGE) -> str:
    """The engine that runs ``tower`` at (concrete) ``precision``: ``engine`` checked (installed, able to run this
    model at this precision: else :class:`EngineError`), or for ``auto`` the fastest that can."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    if engine != "auto":
        _require_able(encoder, engine, precision, tower)
        return engine
    if encoder.device != "cpu":
        return "torch"  # the engines run on the CPU: CUDA's torch path needs no warning that they are faster
    candidates = _FASTEST[(tower, precision)]
    for candidate in candidates:
        try:
            _require_able(encoder, candidate, precision, tower)
        except EngineError as why:
            log.info("engine %s not used for the %s tower: %s", candidate, tower, why)
            continue
        if candidate != candidates[0]:
            why = _why_not(encoder, candidates[0], precision, tower)
            log.warning("the %s tower runs on %s (%s would be faster: %s)", tower, candidate, candidates[0], why)
        return candidate
    raise EngineUnavailableError(f"no installed engine runs the {tower} tower in {precision}: pip install 'vidseek[cpu]'")


def _why_not(encoder: VideoEncoder, engine: str, precision: str, tower: str) -> str:
    try:
        _require_able(encoder, engine, precision, tower)
    except EngineError as why:
        return str(why)
    return "?"


def _require_able(encoder: VideoEncoder, engine: str, precision: str, tower: str) -> None:
    if engine == "torch":
        if precision not in _TORCH_PRECISIONS[tower]:
            raise EngineError(f"torch runs the {tower} tower in {', '.join(_TORCH_PRECISIONS[tower])}, not {precision}")
        return
    backend = _BACKENDS[engine]
    backend.require()
    if precision not in backend.PRECISIONS:
        raise EngineError(f"{engine} runs the {tower} tower in {', '.join(backend.PRECISIONS)}, not {precision}")
    if precision == "bfloat16" and not native_bfloat16():
        raise EngineError("bfloat16 needs a CPU that multiplies it in hardware (AVX512-BF16 or AMX); this one emulates it")
    require_exportable(encoder, tower)


def engine_encoder(
    encoder: VideoEncoder,
    engine: str = "auto",
    precision: str = "auto",
    tower: str = IMAGE,
    cache_dir: Path | None = None,
    calibration: Sequence[np.ndarray] = (),
) -> VideoEncoder:
    """The encoder whose ``tower`` (``image``: index builds; ``text``: queries) runs on ``engine`` at ``precision``.

    ``encoder`` is the float model as loaded and is left as it is. The exported graphs are cached per weights
    fingerprint (:func:`~models.engines.export.graph_cache_dir`: beside a local weights file, else under
    ``cache_dir``). int8 image towers are calibrated on ``calibration``: uint8 clips [T, H, W, 3] of the library.
    """
    precision = concrete_precision(encoder, precision)
    chosen = resolve_engine(encoder, engine, precision, tower)
    if chosen == "torch":
        from models.quantize import image_encoder_at, text_encoder_at

        return image_encoder_at(encoder, precision) if tower == IMAGE else text_encoder_at(encoder, precision)
    if cache_dir is None:
        raise ValueError("an engine's graphs need a cache folder (cache_dir)")
    try:
        return _exported_encoder(encoder, chosen, precision, tower, cache_dir, calibration)
    except Exception as why:  # an export or a graph that fails: auto falls back to torch where torch can run it
        if engine != "auto" or precision not in _TORCH_PRECISIONS[tower]:
            raise
        log.warning("the %s tower runs on torch: its %s graph failed (%s: %s)", tower, chosen, type(why).__name__, why)
        return engine_encoder(encoder, "torch", precision, tower)


def _exported_encoder(
    encoder: VideoEncoder, engine: str, precision: str, tower: str, cache_dir: Path, calibration: Sequence[np.ndarray]
) -> EngineEncoder:
    path = float_graph(encoder, tower, graph_cache_dir(encoder, cache_dir))
    if precision == "int8":
        pixels = calibration_pixels(encoder, calibration) if tower == IMAGE else None
        path = ort.int8_graph(path, tower, pixels)
    graph = _BACKENDS[engine].graph(path, precision)
    return EngineEncoder(encoder, image=graph) if tower == IMAGE else EngineEncoder(encoder, text=graph)


CALIBRATION_FRAMES = 128  # ONNX Runtime's calibration keeps every batch's activations: more costs memory, not accuracy


def calibration_pixels(encoder: VideoEncoder, clips: Sequence[np.ndarray], limit: int = CALIBRATION_FRAMES) -> np.ndarray:
    """uint8 clips [T, H, W, 3] (any sizes) -> the image tower's float32 input [N, 3, S, S]: at most ``limit`` of
    their frames, spread evenly over them."""
    if len(clips) == 0:
        raise EngineError("int8 image towers are calibrated on frames of the library, and none could be read")
    with torch.inference_mode():
        pixels = torch.cat([encoder.preprocess(torch.as_tensor(clip)) for clip in clips])
    keep = np.linspace(0, len(pixels) - 1, min(limit, len(pixels))).round().astype(int)
    return pixels[np.unique(keep)].numpy()


def engine_label(encoder: VideoEncoder, tower: str = IMAGE) -> tuple[str, str]:
    """(engine, precision) that ``encoder``'s ``tower`` runs in, as a manifest or a log line records them."""
    if tower == IMAGE:
        return encoder.image_engine, encoder.image_precision
    if isinstance(encoder, EngineEncoder) and encoder.text_graph is not None:
        return encoder.text_engine, encoder.text_graph_precision
    from models.quantize import text_precision

    return "torch", text_precision(encoder.base if isinstance(encoder, EngineEncoder) else encoder)
