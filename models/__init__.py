"""The neural side of vidseek: CLIP models, the frame-pooled video encoder, zero-shot math.

Public surface: :func:`load_encoder` builds a :class:`VideoEncoder` from an open_clip model name and a
pretrained tag or local file; the encoder embeds videos (frames -> image encoder -> mean pool -> L2) and
texts into the same space.
"""

from models.encoder import VideoEncoder, zero_shot_probabilities
from models.errors import ModelError, PretrainedLoadError, UnknownModelError, UnsafeWeightsError, WeightsUnavailableError
from models.factory import ModelSpec, load_encoder, resolve_device
from models.preprocess import Preprocess

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
