"""Weights files: reading every supported layout into open_clip key names, and writing vidseek checkpoints.

Recognised layouts (detected from the contents, never from the file name):

* ``open_clip``: an open_clip / OpenAI CLIP state dict, bare or under ``state_dict``/``model``,
  optionally ``module.``-prefixed (DDP), as a torch pickle (``.pt``/``.bin``) or safetensors;
* ``vifi-clip``: a released ViFi-CLIP checkpoint, ``torch.save({'model', 'optimizer', 'lr_scheduler',
  'max_accuracy', 'epoch', 'config'})`` with ``module.image_encoder.*`` (-> ``visual.*``),
  ``module.text_encoder.*`` (-> top level), ``module.logit_scale`` and ``module.prompt_learner.*``
  (dropped: ViFi-CLIP's fixed-prompt buffers). It has no ``token_embedding``: ViFi-CLIP never trains
  it, so it comes from the base CLIP weights. ViFi-CLIP models are OpenAI-style (QuickGELU) and were
  trained on frames normalised with ImageNet mean/std, short side ``256/224 * size`` then a centre crop;
* ``vidseek-finetune``: written by :func:`save_checkpoint` (``vidseek finetune``): safetensors with the
  weights under open_clip key names and a header (``format: vidseek-finetune``, then JSON) holding the
  preprocessing and activation the weights were trained with and the state to resume training from.
  Checkpoints of earlier versions (a torch pickle: the same entries, the weights under ``model``) still load;
* ``vidseek-prompts``: written by :func:`models.vl_prompts.save_prompt_checkpoint`: safetensors with only VL prompts
  (``text.i`` / ``vision.i``) and a header of the same kind naming the base they were trained on (model name,
  ``--pretrained`` value, weights fingerprint). Not CLIP weights: :func:`models.factory.load_encoder` loads the base,
  then the prompts.

Pickles are read by :mod:`models.serialization`: tensors and plain data only, never code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from models.errors import PretrainedLoadError
from models.preprocess import OPENCV_BILINEAR
from models.serialization import from_json, is_safetensors, load_pickle, tensor_names, to_json, write_safetensors

FORMAT_OPEN_CLIP = "open_clip"
FORMAT_VIFICLIP = "vifi-clip"
FORMAT_VIDSEEK = "vidseek-finetune"
FORMAT_PROMPTS = "vidseek-prompts"
HEADER_FORMATS = (FORMAT_VIDSEEK, FORMAT_PROMPTS)  # safetensors whose header entries are JSON (models.serialization)
PROMPT_ENTRIES = ("model_name", "prompts", "base_pretrained", "base_fingerprint", "epoch", "epochs")

# ViFi-CLIP's data pipeline (datasets/build.py): mean/std in 0..255, short side int(256 / 224 * size).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VIFI_TEXT_KEYS = ("transformer.", "positional_embedding", "ln_final.", "text_projection")
NOT_WEIGHTS = ("input_resolution", "context_length", "vocab_size")  # OpenAI JIT archives carry these


@dataclass
class WeightsFile:
    """What a weights file holds, already translated to open_clip key names."""

    path: Path
    format: str
    state: dict[str, torch.Tensor]
    dropped: list[str] = field(default_factory=list)  # keys in the file deliberately not loaded
    from_base: list[str] = field(default_factory=list)  # model keys the file lacks by design (kept from the base)
    quick_gelu: bool | None = None  # the activation the weights need, when the file says
    preprocess: dict | None = None  # Preprocess fields the weights were trained with, when they differ from the model's
    meta: dict = field(default_factory=dict)  # epoch, max_accuracy, training config ...

    def summary(self) -> list[str]:
        """Human-readable lines for ``vidseek model inspect``."""
        params = sum(t.numel() for t in self.state.values())
        lines = [
            f"file:        {self.path}",
            f"format:      {self.format}",
            f"tensors:     {len(self.state)} ({params / 1e6:.2f}M values)",
        ]
        guess = guess_architecture(self.state)
        if guess:
            lines.append("shape:       " + ", ".join(f"{k} {v}" for k, v in guess.items()))
        if self.quick_gelu is not None:
            lines.append(f"activation:  {'QuickGELU (OpenAI-style)' if self.quick_gelu else 'GELU'}")
        if self.format == FORMAT_PROMPTS:
            return lines + self._prompt_summary()
        if self.preprocess:
            p = self.preprocess
            lines.append(f"preprocess:  short side {p['resize']} -> centre crop {p['crop']}, mean {p['mean']}, std {p['std']}")
        if self.dropped:
            lines.append(f"dropped:     {len(self.dropped)} key(s) not used by the video encoder: {abbrev(self.dropped, 4)}")
        if self.from_base:
            lines.append(f"from base:   {', '.join(self.from_base)} (not in the file; taken from the base CLIP weights)")
        for key, value in self.meta.items():
            lines.append(f"{key + ':':<12} {value}")
        return lines

    def _prompt_summary(self) -> list[str]:
        meta = dict(self.meta)
        shape = meta.pop("prompts", {}) or {}
        lines = [
            f"prompts:     {shape.get('kind', '?')}, {shape.get('tokens')} tokens per layer, depth {shape.get('depth')} "
            "(the only trained weights; CLIP comes from the base)",
            f"base:        {meta.pop('model_name', '?')} --pretrained {meta.pop('base_pretrained', '?')}",
            f"base weights: {meta.pop('base_fingerprint', '?')} (loading refuses any other)",
        ]
        return lines + [f"{key + ':':<12} {value}" for key, value in meta.items()]


def read_weights(path: Path | str) -> WeightsFile:
    """Read ``path`` in any supported layout; raises :class:`PretrainedLoadError` when it holds no weights."""
    path = Path(path)
    if not path.is_file():
        raise PretrainedLoadError(f"weights file not found: {path}")
    container = _read_container(path, training_state=False)
    if not isinstance(container, Mapping):
        raise PretrainedLoadError(f"{path} does not hold a state dict of tensors (found {type(container).__name__})")
    outer = container
    for key in ("state_dict", "model"):
        if isinstance(container.get(key), Mapping):
            container = container[key]
            break
    if not container or not all(isinstance(v, torch.Tensor) for v in container.values()):
        raise PretrainedLoadError(f"{path} does not hold a state dict of tensors")
    state = {k.removeprefix("module."): v for k, v in container.items() if k not in NOT_WEIGHTS}
    if any(k.startswith(("image_encoder.", "text_encoder.")) for k in state):
        return _from_vificlip(path, state, outer)
    weights = WeightsFile(path, FORMAT_OPEN_CLIP, state)
    if outer.get("format") == FORMAT_PROMPTS:
        weights.format = FORMAT_PROMPTS
        weights.meta = {k: outer[k] for k in PROMPT_ENTRIES if k in outer}
    if outer.get("format") == FORMAT_VIDSEEK:
        weights.format = FORMAT_VIDSEEK
        weights.quick_gelu = outer.get("quick_gelu")
        weights.preprocess = outer.get("preprocess")
        weights.meta = {k: outer[k] for k in ("model_name", "pretrained", "epoch", "epochs") if k in outer}
    return weights


def _read_container(path: Path, training_state: bool) -> object:
    """What ``path`` holds: a pickle's object, or a safetensors file's tensors; a vidseek checkpoint as the dict
    its pickled layout held (``format``, ``model``: the weights, and the other entries of its header)."""
    if not is_safetensors(path):
        return load_pickle(path)
    try:
        return _read_safetensors(path, training_state)
    except Exception as exc:  # noqa: BLE001 - any reader failure means "not a weights file"
        raise PretrainedLoadError(f"cannot read weights file {path}: {exc}") from exc


def _read_safetensors(path: Path, training_state: bool) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as f:
        header = f.metadata() or {}
        if header.get("format") not in HEADER_FORMATS:
            return {name: f.get_tensor(name) for name in f.keys()}
        entries = {key: text for key, text in header.items() if key != "format"}
        held = {key: tensor_names(text) for key, text in entries.items()}
        training = set().union(*held.values())
        weights = {name: f.get_tensor(name) for name in f.keys() if name not in training}
        # Entries that hold tensors (the optimizer's state) are read only to resume training.
        data = {key: from_json(text, f.get_tensor) for key, text in entries.items() if training_state or not held[key]}
    return {"format": header["format"], "model": weights, **data}


def _from_vificlip(path: Path, state: dict[str, torch.Tensor], outer: Mapping) -> WeightsFile:
    converted, dropped = {}, []
    for key, value in state.items():
        if key.startswith("image_encoder."):
            converted["visual." + key.removeprefix("image_encoder.")] = value
        elif key.startswith("text_encoder."):
            rest = key.removeprefix("text_encoder.")
            if rest.startswith(VIFI_TEXT_KEYS):
                converted[rest] = value
            else:
                dropped.append(key)
        elif key == "logit_scale":
            converted[key] = value
        else:  # prompt_learner.* and anything else ViFi-CLIP keeps around the CLIP model
            dropped.append(key)
    size = _vifi_input_size(outer.get("config"), converted)
    preprocess = {
        "resize": int(256 / 224 * size),
        "crop": size,
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "interpolation": OPENCV_BILINEAR,  # the reference resizes with cv2 (mmcv.imresize), see models.preprocess
    }
    meta = {k: _plain(outer[k]) for k in ("epoch", "max_accuracy") if k in outer}
    meta.update(_vifi_config_summary(outer.get("config")))
    from_base = [] if "token_embedding.weight" in converted else ["token_embedding.weight"]
    return WeightsFile(path, FORMAT_VIFICLIP, converted, sorted(dropped), from_base, True, preprocess, meta)


def _cfg_get(config, *keys):
    """``config.A.B`` of a ViFi-CLIP config (read as nested dicts); None when absent."""
    for key in keys:
        config = config.get(key) if isinstance(config, Mapping) else None
    return config


def _vifi_input_size(config, state: dict[str, torch.Tensor]) -> int:
    size = _cfg_get(config, "DATA", "INPUT_SIZE")
    if isinstance(size, int) and size > 0:
        return size
    conv, pos = state.get("visual.conv1.weight"), state.get("visual.positional_embedding")
    if conv is not None and pos is not None:  # patch size x patches per side
        return int(conv.shape[-1] * round((pos.shape[0] - 1) ** 0.5))
    return 224


def _vifi_config_summary(config) -> dict:
    found = {
        "arch": _cfg_get(config, "MODEL", "ARCH"),
        "frames": _cfg_get(config, "DATA", "NUM_FRAMES"),
        "dataset": _cfg_get(config, "DATA", "DATASET"),
    }
    return {k: _plain(v) for k, v in found.items() if v is not None}


def _plain(value):
    return value.item() if isinstance(value, torch.Tensor) and value.numel() == 1 else value


def guess_architecture(state: Mapping[str, torch.Tensor]) -> dict:
    """Widths, depths and sizes read off the tensors (to say which ``--model`` a file fits)."""
    out = {}
    conv = state.get("visual.conv1.weight")
    if conv is not None:
        out["vision width"] = int(conv.shape[0])
        out["patch"] = int(conv.shape[-1])
        pos = state.get("visual.positional_embedding")
        if pos is not None:
            out["image size"] = int(conv.shape[-1] * round((pos.shape[0] - 1) ** 0.5))
        out["vision layers"] = len({k.split(".")[3] for k in state if k.startswith("visual.transformer.resblocks.")})
    proj = state.get("text_projection")
    if proj is not None:
        out["embed dim"] = int(proj.shape[1])
        out["text layers"] = len({k.split(".")[2] for k in state if k.startswith("transformer.resblocks.")})
    return out


def load_state(model: torch.nn.Module, weights: WeightsFile) -> None:
    """Load ``weights`` into ``model``; keys the format lacks by design keep the model's values.

    A mismatch names the missing and unexpected keys (``model inspect`` shows what the file holds).
    """
    if weights.format == FORMAT_PROMPTS:
        raise PretrainedLoadError(
            f"{weights.path} holds VL prompts, not CLIP weights: pass it as --pretrained (it names its base weights)"
        )
    state = dict(weights.state)
    if "logit_scale" in state and state["logit_scale"].ndim != model.logit_scale.ndim:
        state["logit_scale"] = state["logit_scale"].reshape(model.logit_scale.shape)
    expected = set(model.state_dict())
    missing = sorted(expected - state.keys() - set(weights.from_base))
    unexpected = sorted(state.keys() - expected)
    if missing or unexpected:
        raise PretrainedLoadError(
            f"{weights.path} ({weights.format}) does not fit this model: missing keys {abbrev(missing)}; "
            f"unexpected keys {abbrev(unexpected)}"
        )
    try:
        model.load_state_dict(state, strict=not weights.from_base)
    except RuntimeError as exc:  # shape mismatches
        raise PretrainedLoadError(f"{weights.path} does not fit this model: {exc}") from exc


def load_weights_file(model: torch.nn.Module, path: Path) -> WeightsFile:
    """Read ``path`` and load it into ``model`` (see :func:`load_state`)."""
    weights = read_weights(path)
    load_state(model, weights)
    return weights


def save_checkpoint(path: Path | str, model: torch.nn.Module, **extra) -> None:
    """Write a ``vidseek-finetune`` checkpoint atomically (written aside, then renamed over ``path``).

    ``extra`` holds the training state to resume from (optimizer, lr_scheduler, epoch, ...) and the
    preprocessing/activation the weights go with: plain data, stored as JSON in the safetensors header
    (its tensors, an optimizer's moments, beside the weights).
    """
    _write_with_header(Path(path), FORMAT_VIDSEEK, model.state_dict(), extra)


def save_prompts_file(path: Path | str, tensors: Mapping[str, torch.Tensor], **entries) -> None:
    """Write a ``vidseek-prompts`` checkpoint: the prompt tensors and ``entries`` (plain data) as its header."""
    _write_with_header(Path(path), FORMAT_PROMPTS, tensors, entries)


def _write_with_header(path: Path, kind: str, tensors: Mapping[str, torch.Tensor], entries: Mapping) -> None:
    reserved = sorted({"format", "model"} & entries.keys())
    if reserved:
        raise ValueError(f"{', '.join(reserved)} are a checkpoint's own entries")
    tensors = dict(tensors)
    header = {"format": kind}
    for key, value in entries.items():
        header[key] = to_json(value, key, tensors)
    write_safetensors(path, tensors, header)


def read_training_state(path: Path | str) -> dict:
    """The whole dict of a ``vidseek-finetune`` or ``vidseek-prompts`` checkpoint (to resume training)."""
    path = Path(path)
    if not path.is_file():
        raise PretrainedLoadError(f"checkpoint not found: {path}")
    payload = _read_container(path, training_state=True)
    if not isinstance(payload, dict) or payload.get("format") not in HEADER_FORMATS:
        raise PretrainedLoadError(f"{path} is not a vidseek fine-tuning checkpoint; cannot resume from it")
    return payload


def abbrev(keys: list[str], limit: int = 8) -> str:
    if not keys:
        return "none"
    shown = ", ".join(keys[:limit])
    return f"{shown} (+{len(keys) - limit} more)" if len(keys) > limit else shown
