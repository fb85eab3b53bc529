"""The int8 text encoder for serving on CPU: the text transformer's Linear layers dynamically quantised to int8.

A search query costs one pass through the text tower, mostly matrix products in its Linear layers;
int8 ones are cheaper on CPU. Weights are quantised once (per output channel), activations per batch as
they come (dynamic quantisation), so nothing needs calibration data. Only the text tower changes: the
image tower, which made the index's vectors, is shared as it is, so an index stays searchable, picture
queries are untouched, and the model's fingerprint stays the same. The price is a small drift of the text
vectors, measured by :func:`text_drift` (``benchmarks/bench_query.py`` reports it).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence

import numpy as np
import open_clip
import torch
from torch import nn
from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

from models.encoder import VideoEncoder
from models.errors import ModelError


class QuantizationError(ModelError):
    """The model cannot get an int8 text encoder (not on CPU, or no text tower that we know)."""


def _text_tower_name(model: nn.Module) -> str:
    """The attribute holding the text transformer: ``transformer`` in open_clip's CLIP, ``text`` in CustomTextCLIP."""
    if isinstance(model, open_clip.CLIP):
        return "transformer"
    if isinstance(getattr(model, "text", None), nn.Module):
        return "text"
    raise QuantizationError(f"no text tower found in {type(model).__name__}: the int8 text encoder needs an open_clip model")


def quantize_text_tower(encoder: VideoEncoder) -> VideoEncoder:
    """A new encoder whose text transformer runs in int8; everything else (image tower, tokenizer, spec) is shared.

    ``encoder`` itself is left as it was (the server keeps it for classification and picture queries).
    """
    if encoder.device != "cpu":
        raise QuantizationError(
            f"the int8 text encoder runs on CPU only, the model is on {encoder.device!r}: serve with --device cpu, "
            "or leave the int8 text encoder off"
        )
    model = encoder.model
    name = _text_tower_name(model)
    tower = getattr(model, name)
    weight_dtype = next(tower.parameters()).dtype
    with warnings.catch_warnings():
        # torch marks its eager quantisation API deprecated in favour of torchao, which it does not ship.
        warnings.filterwarnings("ignore", message=r".*(torch\.ao\.quantization|quantize_per_\w+).*deprecated")
        int8_tower = torch.ao.quantization.quantize_dynamic(
            tower, {nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig}, dtype=torch.qint8
        )
    for block in int8_tower.modules():
        fc = getattr(getattr(block, "mlp", None), "c_fc", None)
        if isinstance(fc, DynamicInt8Linear):
            # open_clip's hook for int8 layers: the text input is still cast to the model's float dtype.
            fc.int8_original_dtype = weight_dtype
    # Every submodule is shared (the image tower is not copied); the top-level parameters are small.
    int8_model = copy.deepcopy(model, memo={id(child): child for child in model.children()})
    setattr(int8_model, name, int8_tower)
    int8_model.eval()
    return VideoEncoder(int8_model, encoder.tokenizer, encoder.preprocess, encoder.spec, encoder.device)


def text_tower_is_int8(model: nn.Module) -> bool:
    """Whether ``model``'s text tower holds int8 Linear layers (and so came from :func:`quantize_text_tower`)."""
    return any(isinstance(m, DynamicInt8Linear) for m in getattr(model, _text_tower_name(model)).modules())


def text_drift(reference: VideoEncoder, other: VideoEncoder, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """The cosine between ``reference``'s and ``other``'s vector of each text (1.0: no drift)."""
    cosines = []
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start : start + batch_size])
        cosines.append(np.sum(reference.encode_text(chunk) * other.encode_text(chunk), axis=1))
    return np.concatenate(cosines) if cosines else np.zeros(0, dtype=np.float32)
