"""ONNX Runtime (CPU execution provider): float32 graphs, and int8 ones made by ONNX Runtime's quantiser.

int8: the image tower statically (QDQ, weights per output channel, activations' ranges calibrated on frames
of the library being indexed), the text tower dynamically (activations quantised per batch as they come; a query
has no calibration set). OpenVINO runs the same int8 graphs (:mod:`models.engines.ov`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import warnings
from pathlib import Path

import numpy as np

from models.engines.base import EngineUnavailableError, TowerGraph
from models.engines.export import IMAGE, cached_graph, graph_path

log = logging.getLogger(__name__)

ENGINE = "onnxruntime"
PRECISIONS = ("float32", "int8")
QUANTISED_OPS = ["MatMul", "Gemm", "Conv"]


def available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None


def require() -> None:
    if not available():
        raise EngineUnavailableError(
            "--engine onnxruntime needs the onnxruntime and onnx packages: pip install 'vidseek[cpu]' (or --engine torch)"
        )


def graph(path: Path, precision: str) -> TowerGraph:
    """The ONNX graph at ``path`` run by ONNX Runtime's CPU execution provider."""
    require()
    import onnxruntime as ort

    def runner(threads: int):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda inputs: session.run(None, {name: inputs})[0]

    return TowerGraph(ENGINE, precision, path, runner)


def calibration_key(samples: np.ndarray) -> str:
    """A short hash of the calibration pixels: a statically quantised graph is cached per calibration set."""
    return hashlib.sha256(np.ascontiguousarray(samples, dtype=np.float32).tobytes()).hexdigest()[:12]


def int8_graph(float_path: Path, tower: str, calibration: np.ndarray | None = None, batch: int = 16) -> Path:
    """The int8 twin of the float32 graph at ``float_path`` (made beside it unless there): the image tower quantised
    statically, its activations' ranges from ``calibration`` (preprocessed frames [N, 3, S, S]), the text tower
    dynamically."""
    require()
    if tower == IMAGE:
        if calibration is None or len(calibration) == 0:
            raise ValueError("the int8 image tower is calibrated on frames of the library: give some")
        variant = f"int8-{calibration_key(calibration)}"
    else:
        variant = "int8"
    path = graph_path(float_path.parent, tower, variant)

    def make(out: Path) -> None:
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static

        log.info("quantising the %s tower to int8 in %s", tower, out)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if tower != IMAGE:
                quantize_dynamic(
                    str(float_path), str(out), op_types_to_quantize=["MatMul", "Gemm"], per_channel=True,
                    weight_type=QuantType.QInt8,
                )  # fmt: skip
                return
            quantize_static(
                str(float_path),
                str(out),
                _Calibration(calibration, batch),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=QUANTISED_OPS,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                extra_options={"WeightSymmetric": True, "ActivationSymmetric": False},
            )

    return cached_graph(path, make)


class _Calibration:
    """ONNX Runtime's calibration reader over preprocessed frames, ``batch`` at a time."""

    def __init__(self, pixels: np.ndarray, batch: int):
        self.batches = iter([np.ascontiguousarray(pixels[i : i + batch], np.float32) for i in range(0, len(pixels), batch)])

    def get_next(self):
        pixels = next(self.batches, None)
        return None if pixels is None else {"pixels": pixels}
