"""Exceptions raised by the model layer; the CLI and the server turn them into messages."""


class ModelError(Exception):
    """Base class for model-side failures."""


class UnknownModelError(ModelError):
    """The model name is not an open_clip architecture (nor one of ours)."""


class WeightsUnavailableError(ModelError):
    """Pretrained weights could not be found locally and cannot be downloaded."""


class PretrainedLoadError(ModelError):
    """A weights file exists but does not fit the model (missing/unexpected keys, bad format)."""


class UnsafeWeightsError(PretrainedLoadError):
    """A pickled weights file would call a class or function (run code) to be read; it is refused, not loaded."""
