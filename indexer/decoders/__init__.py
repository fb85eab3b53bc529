"""Decoding: one :class:`Decoder` interface over the backends (``base``): PyAV, the default and the reference
(``pyav``), its keyframe mode for ``--fast-seek`` (``keyframes``), torchcodec (``torchcodec``), decord (``decord``)
behind a spot check against PyAV (``verified``), or a ``module:Class`` plugin (:func:`get_decoder`); and pictures
through Pillow (``photo``), which index photos as one-frame clips. Their exceptions live in :mod:`indexer.errors`.

Torch-free: decode worker processes import it (the torchcodec backend imports torch only when chosen)."""

from indexer.decoders.base import (
    DECODERS,
    MAX_FRAME_PIXELS,
    PHOTO_DECODER,
    SEEK_GAP_SECONDS,
    UNVERIFIED,
    Decoder,
    Frames,
    VideoInfo,
    encode_jpeg,
    get_decoder,
    looks_like_text,
    require_media,
    scaled_size,
)
from indexer.decoders.decord import DecordDecoder
from indexer.decoders.keyframes import PyAVKeyframeDecoder
from indexer.decoders.photo import HEIF_EXTENSIONS, MAX_IMAGE_PIXELS, PhotoDecoder, image_frame
from indexer.decoders.pyav import PyAVDecoder
from indexer.decoders.torchcodec import TorchCodecDecoder
from indexer.decoders.verified import FRAME_MISMATCH_THRESHOLD, VerifiedDecoder

__all__ = [
    "DECODERS",
    "FRAME_MISMATCH_THRESHOLD",
    "HEIF_EXTENSIONS",
    "MAX_FRAME_PIXELS",
    "MAX_IMAGE_PIXELS",
    "PHOTO_DECODER",
    "SEEK_GAP_SECONDS",
    "UNVERIFIED",
    "DecordDecoder",
    "Decoder",
    "Frames",
    "PhotoDecoder",
    "PyAVDecoder",
    "PyAVKeyframeDecoder",
    "TorchCodecDecoder",
    "VerifiedDecoder",
    "VideoInfo",
    "encode_jpeg",
    "get_decoder",
    "image_frame",
    "looks_like_text",
    "require_media",
    "scaled_size",
]
