"""Reading weights files into an open_clip model.

Recognised layouts (detected from the keys, not the file name):

* an open_clip / OpenAI CLIP state dict, bare or under ``state_dict``, optionally ``module.``-prefixed;
* a vidseek fine-tuning checkpoint (``{"model": state_dict, ...}`` in open_clip key names).
"""

from __future__ import annotations

from pathlib import Path

import torch

from models.errors import PretrainedLoadError


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The raw tensor dict stored in ``path`` (any supported container), with DDP prefixes removed."""
    if not path.is_file():
        raise PretrainedLoadError(f"weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            checkpoint = load_file(str(path), device="cpu")
        else:
            checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any reader failure means "not a weights file"
        raise PretrainedLoadError(f"cannot read weights file {path}: {exc}") from exc
    if isinstance(checkpoint, torch.jit.ScriptModule):
        checkpoint = checkpoint.state_dict()
    if isinstance(checkpoint, dict):
        for key in ("state_dict", "model"):
            if isinstance(checkpoint.get(key), dict):
                checkpoint = checkpoint[key]
                break
    if not isinstance(checkpoint, dict) or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise PretrainedLoadError(f"{path} does not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in checkpoint.items()}


def load_weights_file(model: torch.nn.Module, path: Path) -> None:
    """Load ``path`` into ``model`` strictly; a mismatch names the missing and unexpected keys."""
    state = read_state_dict(path)
    for key in ("input_resolution", "context_length", "vocab_size"):  # OpenAI JIT archives carry these
        state.pop(key, None)
    if "logit_scale" in state and state["logit_scale"].ndim != model.logit_scale.ndim:
        state["logit_scale"] = state["logit_scale"].reshape(model.logit_scale.shape)
    missing, unexpected = _key_mismatch(model, state)
    if missing or unexpected:
        raise PretrainedLoadError(
            f"{path} does not fit this model: missing keys {_abbrev(missing)}; unexpected keys {_abbrev(unexpected)}"
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # shape mismatches
        raise PretrainedLoadError(f"{path} does not fit this model: {exc}") from exc


def _key_mismatch(model: torch.nn.Module, state: dict) -> tuple[list[str], list[str]]:
    expected = set(model.state_dict())
    return sorted(expected - state.keys()), sorted(state.keys() - expected)


def _abbrev(keys: list[str], limit: int = 8) -> str:
    if not keys:
        return "none"
    shown = ", ".join(keys[:limit])
    return f"{shown} (+{len(keys) - limit} more)" if len(keys) > limit else shown
