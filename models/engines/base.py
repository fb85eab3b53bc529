"""An encoder whose towers run exported graphs (ONNX Runtime, OpenVINO) instead of torch, behind the same interface.

Preprocessing, pooling and normalisation stay in torch (:mod:`models.preprocess`, :mod:`models.fusion`); only the
towers' forward passes, where the time goes, run in the engine. Every vector still comes out float32 and unit-length.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np
import torch

from models.encoder import VideoEncoder, cut_context
from models.errors import ModelError
from models.fusion import video_features


class EngineError(ModelError):
    """An engine cannot run this model here (a GPU device, a prompted model, a precision the engine lacks)."""


class EngineUnavailableError(EngineError):
    """The engine's package is not installed."""


class TowerGraph:
    """One exported tower run by an engine: numpy in ([N, 3, S, S] float32 pixels or [N, L] int64 token ids),
    features [N, D] out. The engine's runtime follows torch's thread count of the calling thread
    (``torch.get_num_threads``, which the build pipeline sets per batch), one runtime per count, made on first use."""

    def __init__(self, engine: str, precision: str, path, make_runner: Callable[[int], Callable[[np.ndarray], np.ndarray]]):
        self.engine = engine
        self.precision = precision
        self.path = path
        self._make_runner = make_runner
        self._runners: dict[int, Callable[[np.ndarray], np.ndarray]] = {}
        self._lock = threading.Lock()

    def run(self, inputs: np.ndarray) -> np.ndarray:
        threads = torch.get_num_threads()
        runner = self._runners.get(threads)
        if runner is None:
            with self._lock:
                runner = self._runners.setdefault(threads, self._make_runner(threads))
        return runner(np.ascontiguousarray(inputs))

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """What :func:`models.fusion.video_features` calls on a model."""
        return torch.from_numpy(self.run(pixels.float().numpy()))


class EngineEncoder(VideoEncoder):
    """``base`` with its image tower (``image``), its text tower (``text``) or both run by an engine; a tower without a
    graph runs in ``base``'s torch model. ``base`` itself is left as it was."""

    def __init__(self, base: VideoEncoder, image: TowerGraph | None = None, text: TowerGraph | None = None):
        super().__init__(base.model, base.tokenizer, base.preprocess, base.spec, base.device, base.prompts)
        self.base = base
        self.image_graph = image
        self.text_graph = text

    @property
    def image_engine(self) -> str:
        return self.image_graph.engine if self.image_graph else self.base.image_engine

    @property
    def text_engine(self) -> str:
        return self.text_graph.engine if self.text_graph else self.base.text_engine

    @property
    def image_precision(self) -> str:
        return self.image_graph.precision if self.image_graph else self.base.image_precision

    @property
    def text_graph_precision(self) -> str | None:
        return self.text_graph.precision if self.text_graph else None

    def encode_videos(self, clips: Sequence[np.ndarray] | np.ndarray, fusion: str = "embedding") -> np.ndarray:
        if self.image_graph is None:
            return self.base.encode_videos(clips, fusion)
        if len(clips) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        with torch.inference_mode():
            pixels = torch.stack([self.preprocess(torch.as_tensor(clip)) for clip in clips])  # [B, T, 3, S, S]
            return video_features(self.image_graph, pixels, fusion).float().numpy()

    def batch_size_for_memory(self, frames: int, short_side: int, fraction: float = 0.5, cap: int = 128) -> int:
        return self.base.batch_size_for_memory(frames, short_side, fraction, cap)

    def _encode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.text_graph is None:
            return self.base._encode_tokens(tokens)
        return torch.from_numpy(self.text_graph.run(cut_context(tokens).numpy().astype(np.int64)))
