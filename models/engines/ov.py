"""OpenVINO (CPU plugin): the same ONNX graphs as ONNX Runtime's, compiled for this CPU.

float32 and, on a CPU that multiplies bfloat16 in hardware, bfloat16 (the plugin's inference precision: weights
and activations in bfloat16, accumulations in float32). int8 runs the QDQ graphs of :mod:`models.engines.ort`,
which OpenVINO turns into its own int8 kernels.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np

from models.engines.base import EngineUnavailableError, TowerGraph

ENGINE = "openvino"
PRECISIONS = ("float32", "bfloat16", "int8")
_HINTS = {"float32": "f32", "bfloat16": "bf16", "int8": "f32"}  # int8 layers stay int8; the rest in float32


def available() -> bool:
    return importlib.util.find_spec("openvino") is not None


def require() -> None:
    if not available():
        raise EngineUnavailableError(
            "--engine openvino needs the openvino package: pip install 'vidseek[cpu]' (or --engine torch)"
        )


def graph(path: Path, precision: str) -> TowerGraph:
    """The ONNX graph at ``path`` compiled by OpenVINO's CPU plugin to run in ``precision``."""
    require()
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(path))

    def runner(threads: int):
        config = {"INFERENCE_PRECISION_HINT": _HINTS[precision], "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
        compiled = core.compile_model(model, "CPU", config)
        local = threading.local()  # an infer request serves one call at a time: one per calling thread

        def run(inputs: np.ndarray) -> np.ndarray:
            request = getattr(local, "request", None)
            if request is None:
                request = local.request = compiled.create_infer_request()
            return np.array(request.infer({0: inputs})[0], copy=True)  # the request reuses its output buffer

        return run

    return TowerGraph(ENGINE, precision, path, runner)
