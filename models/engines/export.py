"""The towers exported to ONNX once per weights fingerprint, and where those graphs are kept.

A graph is a function of the weights alone, so it is cached per fingerprint: beside a local weights file
(``<file>.vidseek-engines/<key>/``) where that folder is writable, else under the cache folder the caller names
(``$XDG_CACHE_HOME/vidseek/engines/<key>/`` from the CLI and the server); never in an index dir. Every file is
written aside and renamed into place, so a reader sees a whole graph or none, and two builds exporting at once
both end with the same graph.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import open_clip
import torch
from torch import nn

from models.encoder import VideoEncoder, causal_text_features, has_causal_text_tower
from models.engines.base import EngineError
from models.registry import is_weights_path

log = logging.getLogger(__name__)

EXPORT_VERSION = 1  # bump when the exported graphs change, so that old cached ones are not used
OPSET = 18
IMAGE, TEXT = "image", "text"


def graph_cache_dir(encoder: VideoEncoder, cache_dir: Path) -> Path:
    """The folder of ``encoder``'s exported graphs: beside its local weights file when that folder is writable, else
    ``cache_dir/<key>``. The key names the model and hashes the weights fingerprint."""
    spec = encoder.spec
    identity = spec.fingerprint
    if identity == "none":  # seeded random weights: the same only for the same open_clip and torch
        identity += f"+open_clip:{open_clip.__version__}+torch:{torch.__version__}"
    key = f"{spec.name}-{hashlib.sha256(identity.encode()).hexdigest()[:16]}"
    if is_weights_path(spec.pretrained):
        weights = Path(spec.pretrained)
        beside = weights.with_name(weights.name + ".vidseek-engines")
        if os.access(weights.parent, os.W_OK) and (not beside.exists() or os.access(beside, os.W_OK)):
            return beside / key
    return Path(cache_dir).expanduser() / key


def graph_path(folder: Path, tower: str, variant: str) -> Path:
    return folder / f"{tower}.{variant}.v{EXPORT_VERSION}.onnx"


def cached_graph(path: Path, make: Callable[[Path], None]) -> Path:
    """``path``, made by ``make(temporary path)`` first unless it exists; the temporary file is renamed into place."""
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        make(Path(temporary))
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private; a cached graph is as readable as any file
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def float_graph(encoder: VideoEncoder, tower: str, folder: Path) -> Path:
    """The float32 ONNX graph of ``encoder``'s ``tower`` (``image`` or ``text``) in ``folder``, exported if not there."""
    require_exportable(encoder, tower)
    return cached_graph(graph_path(folder, tower, "float32"), lambda path: export_tower(encoder, tower, path))


def require_exportable(encoder: VideoEncoder, tower: str) -> None:
    if encoder.device != "cpu":
        raise EngineError(f"the engines run on CPU; the model is on {encoder.device!r} (use --engine torch there)")
    if encoder.prompts is not None:
        raise EngineError("a VL-prompted model runs in torch only (its prompts are hooks the export does not keep)")
    if tower == TEXT and not has_causal_text_tower(encoder.model):
        raise EngineError(f"the text tower of {type(encoder.model).__name__} cannot be exported (a CLIP text tower can)")
    if tower not in (IMAGE, TEXT):
        raise ValueError(f"tower is {IMAGE!r} or {TEXT!r}, not {tower!r}")


class _TextTower(nn.Module):
    """Token ids [N, L] (any L up to the context, cut after the longest text) -> text features [N, D]."""

    def __init__(self, clip: nn.Module):
        super().__init__()
        self.clip = clip

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return causal_text_features(self.clip, tokens)


def export_tower(encoder: VideoEncoder, tower: str, path: Path) -> None:
    """Export ``tower`` in float32 to ``path`` (one file, weights inside) with a dynamic batch (and text length)."""
    model = encoder.model
    if tower == IMAGE:
        size = encoder.preprocess.crop
        module, example = model.visual, torch.zeros(2, 3, size, size)
        names, shapes = ["pixels"], ({0: torch.export.Dim("frames", min=1, max=65536)},)
    else:
        context = int(model.attn_mask.shape[0])
        module, example = _TextTower(model), torch.ones(2, min(8, context), dtype=torch.int64)
        dims = {0: torch.export.Dim("texts", min=1, max=65536), 1: torch.export.Dim("length", min=2, max=context)}
        names, shapes = ["tokens"], (dims,)
    log.info("exporting the %s tower of %s to %s", tower, encoder.spec.name, path)
    dtype = next(module.parameters()).dtype
    module = module.float() if dtype != torch.float32 else module
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module,
                (example,),
                dynamo=True,
                input_names=names,
                output_names=["features"],
                dynamic_shapes=shapes,
                opset_version=OPSET,
                verbose=False,
            )
        program.save(str(path), external_data=False)
    finally:
        if dtype != torch.float32:
            module.to(dtype)
