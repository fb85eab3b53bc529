"""The neural side of vidseek: CLIP models, the frame-pooled video encoder, zero-shot math.

Public surface: :func:`load_encoder` builds a :class:`VideoEncoder` from an open_clip model name and a
pretrained tag or local file; the encoder embeds videos (frames -> image encoder -> mean pool -> L2) and
texts into the same space.
"""

from importlib import import_module

# Where each public name lives. They load on first use, so importing a light module of the package
# (models.errors, models.prompts) does not load torch and open_clip.
_HOMES = {
    "VideoEncoder": "models.encoder",
    "zero_shot_probabilities": "models.encoder",
    "ModelError": "models.errors",
    "PretrainedLoadError": "models.errors",
    "UnknownModelError": "models.errors",
    "UnsafeWeightsError": "models.errors",
    "WeightsUnavailableError": "models.errors",
    "ModelSpec": "models.factory",
    "load_encoder": "models.factory",
    "resolve_device": "models.factory",
    "Preprocess": "models.preprocess",
}

__all__ = [
    "ModelError",
    "ModelSpec",
    "Preprocess",
    "PretrainedLoadError",
    "UnknownModelError",
    "UnsafeWeightsError",
    "VideoEncoder",
    "WeightsUnavailableError",
    "load_encoder",
    "resolve_device",
    "zero_shot_probabilities",
]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
