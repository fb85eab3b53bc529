"""Cheaper encoders on CPU: the text tower in bfloat16 or int8 for queries, the image tower in bfloat16 for indexing.

A search query costs one pass through the text tower, mostly matrix products in its Linear layers, and
on CPU those are cheaper in lower precision. :func:`text_encoder_at` picks one: ``bfloat16`` (the text
tower's weights cast once; 3.1x faster than float32 on CPUs with AVX512-BF16/AMX, where ``auto`` takes it,
but emulated and slower elsewhere) or ``int8`` (Linear weights quantised once per output channel,
activations per batch as they come, so nothing needs calibration data; 2.1x). Only the text tower changes:
the image tower, which made the index's vectors, is shared as it is, so an index stays searchable,
picture queries are untouched, and the model's fingerprint stays the same. A VL-prompted encoder
(:mod:`models.vl_prompts`) keeps its prompts: the copies share them, in float32, and the hooks cast them to each
tower's dtype. The price is a small drift of the text vectors, measured by :func:`text_drift`
(``benchmarks/bench_query.py`` reports it).
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

from models.encoder import VideoEncoder, native_bfloat16
from models.errors import ModelError

TEXT_PRECISIONS = ("auto", "float32", "bfloat16", "int8")
IMAGE_PRECISIONS = ("auto", "float32", "bfloat16")


class QuantizationError(ModelError):
    """The model cannot get a lower-precision text encoder (not on CPU, or no text tower that we know)."""


def text_encoder_at(encoder: VideoEncoder, precision: str) -> VideoEncoder:
    """The encoder to embed queries with at ``precision`` (one of :data:`TEXT_PRECISIONS`).

    ``auto``: bfloat16 on a CPU that multiplies it in hardware, else the model as loaded; ``float32``: the
    model as loaded (on CUDA it runs under float16 autocast anyway); ``bfloat16`` / ``int8``: a copy whose
    text tower runs in that precision (CPU only). ``encoder`` itself is never changed.
    """
    precision = _resolve(encoder, precision, TEXT_PRECISIONS)
    if precision == "float32":
        return encoder
    return quantize_text_tower(encoder) if precision == "int8" else bfloat16_text_tower(encoder)


def image_encoder_at(encoder: VideoEncoder, precision: str) -> VideoEncoder:
    """The encoder to embed videos with at ``precision`` (one of :data:`IMAGE_PRECISIONS`), for index builds.

    ``auto``: bfloat16 on a CPU that multiplies it in hardware (2.4x the frames/s of float32 for ViT-B-32,
    cosine to the float32 vectors >= 0.9999), else the model as loaded (on CUDA it runs under float16
    autocast anyway); ``bfloat16``: a copy whose image tower holds bfloat16 weights (CPU only; the text
    tower is shared). ``encoder`` itself is never changed; fine-tuning always trains in float32.
    """
    if _resolve(encoder, precision, IMAGE_PRECISIONS) == "float32":
        return encoder
    _require_cpu(encoder, "bfloat16 video embedding")
    model = encoder.model
    shared = _shared(encoder, [child for child in model.children() if child is not model.visual])
    image_model = copy.deepcopy(model, memo=shared)
    image_model.visual.to(torch.bfloat16)
    image_model.eval()
    return _encoder_like(encoder, image_model)


def _shared(encoder: VideoEncoder, modules: Sequence[nn.Module]) -> dict[int, nn.Module]:
    """A deepcopy memo that shares ``modules`` and the encoder's prompts (the copy's prompt hooks then use them too)."""
    memo = {id(module): module for module in modules}
    if encoder.prompts is not None:
        memo[id(encoder.prompts)] = encoder.prompts
    return memo


def _encoder_like(encoder: VideoEncoder, model: nn.Module) -> VideoEncoder:
    return VideoEncoder(model, encoder.tokenizer, encoder.preprocess, encoder.spec, encoder.device, encoder.prompts)


def _resolve(encoder: VideoEncoder, precision: str, choices: tuple[str, ...]) -> str:
    """``precision`` checked against ``choices``, with ``auto`` made concrete: bfloat16 on a CPU that multiplies
    it in hardware, else float32 (the model as loaded)."""
    if precision not in choices:
        raise ValueError(f"unknown precision {precision!r}: choose one of {', '.join(choices)}")
    if precision == "auto":
        return "bfloat16" if encoder.device == "cpu" and native_bfloat16() else "float32"
    return precision


def image_precision(encoder: VideoEncoder) -> str:
    """The dtype the image tower computes in, e.g. ``float32`` or ``bfloat16``."""
    return str(encoder.image_dtype).removeprefix("torch.")


def _require_cpu(encoder: VideoEncoder, what: str) -> None:
    if encoder.device != "cpu":
        raise QuantizationError(
            f"the {what} runs on CPU only, the model is on {encoder.device!r}: on CUDA the model already runs in "
            "float16, so choose precision auto or float32 there (or --device cpu)"
        )


def text_precision(encoder: VideoEncoder) -> str:
    """What :func:`text_encoder_at` made: ``int8``, ``bfloat16`` or the float dtype of the text tower."""
    if text_tower_is_int8(encoder.model):
        return "int8"
    tower = getattr(encoder.model, _text_tower_name(encoder.model))
    return str(next(p.dtype for p in tower.parameters() if p.is_floating_point())).removeprefix("torch.")


def bfloat16_text_tower(encoder: VideoEncoder) -> VideoEncoder:
    """A new encoder whose text side (every part but the image tower and the logit scale) holds bfloat16
    weights; the image tower is shared, not copied. Its vectors come out in float32 like every encoder's."""
    _require_cpu(encoder, "bfloat16 text encoder")
    model = encoder.model
    visual = model.visual
    text_model = copy.deepcopy(model, memo=_shared(encoder, [visual]))
    for child in text_model.children():
        if child is not visual:
            child.to(torch.bfloat16)
    for name, parameter in text_model.named_parameters(recurse=False):
        if not name.startswith("logit_"):
            parameter.data = parameter.data.to(torch.bfloat16)
    for name, buffer in text_model.named_buffers(recurse=False):
        if buffer.is_floating_point():  # the causal attention mask must match the activations' dtype
            setattr(text_model, name, buffer.to(torch.bfloat16))
    text_model.eval()
    return _encoder_like(encoder, text_model)


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
    _require_cpu(encoder, "int8 text encoder")
    model = encoder.model
    name = _text_tower_name(model)
    tower = getattr(model, name)
    weight_dtype = next(tower.parameters()).dtype
    with warnings.catch_warnings():
        # torch marks its eager quantisation API deprecated in favour of torchao, which it does not ship.
        warnings.filterwarnings("ignore", message=r".*(torch\.ao\.quantization|quantize_per_\w+).*deprecated")
        int8_tower = torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(tower, memo=_shared(encoder, [])),  # copied here so that the prompts stay shared
            {nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig},
            dtype=torch.qint8,
            inplace=True,
        )
    for block in int8_tower.modules():
        fc = getattr(getattr(block, "mlp", None), "c_fc", None)
        if isinstance(fc, DynamicInt8Linear):
            # open_clip's hook for int8 layers: the text input is still cast to the model's float dtype.
            fc.int8_original_dtype = weight_dtype
    # Every submodule is shared (the image tower is not copied); the top-level parameters are small.
    int8_model = copy.deepcopy(model, memo=_shared(encoder, list(model.children())))
    setattr(int8_model, name, int8_tower)
    int8_model.eval()
    return _encoder_like(encoder, int8_model)


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
