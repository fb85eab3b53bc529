"""Multi-view inference: a clip seen as S spatial crops x V temporal views, each embedded as a clip of its own.

Views are combined as the ViFi-CLIP reference's ``validate`` (main.py) does for classification: every view's
class scores go through a softmax on their own and the probabilities are summed (here averaged, which ranks the
same and stays a distribution). Retrieval averages the views' cosines, i.e. it ranks by the dot product with the
mean of the view vectors.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from models.encoder import VideoEncoder, zero_shot_probabilities
from models.preprocess import SPATIAL_CROPS
from models.prompts import DEFAULT_TEMPLATE

Ranking = list[tuple[str, float, float]]  # (label, cosine, probability), most probable first


def parse_views(text: str) -> tuple[int, int]:
    """``"SxT"`` (``3x4``, ``3×4``) -> (spatial crops, temporal views); S is 1 or 3, as in the reference."""
    match = re.fullmatch(r"\s*(\d+)\s*[x×X]\s*(\d+)\s*", text)
    if not match:
        raise ValueError(f"views must look like 3x4 (spatial crops x temporal views), not {text!r}")
    crops, temporal = int(match[1]), int(match[2])
    if crops not in SPATIAL_CROPS or temporal < 1:
        raise ValueError(f"spatial crops must be one of {SPATIAL_CROPS} and temporal views at least 1, not {text!r}")
    return crops, temporal


def temporal_views(clip: np.ndarray) -> list[np.ndarray]:
    """A clip as ``load_clips``/``read_clip`` give it, [T, H, W, 3] or [V, T, H, W, 3] -> its V views [T, H, W, 3]."""
    clip = np.asarray(clip)
    if clip.ndim == 4:
        return [clip]
    if clip.ndim == 5:
        return list(clip)
    raise ValueError(f"expected a clip shaped [T, H, W, 3] or [V, T, H, W, 3], got {clip.shape}")


def split_views(encoder: VideoEncoder, clips: Sequence[np.ndarray], crops: int = 1) -> tuple[list, VideoEncoder, int]:
    """Clips (each with its temporal views, the same count for all) -> (every view as a clip of its own, clip-major,
    the encoder to embed them with, views per clip).

    With one crop each temporal view is an ordinary clip for the encoder; with three, the crops are cut here
    (:meth:`Preprocess.crop_views`) and an encoder whose preprocessing only normalises embeds them.
    """
    views = [temporal_views(clip) for clip in clips]
    if len({len(v) for v in views}) > 1:
        raise ValueError("every clip needs the same number of temporal views")
    flat = [view for clip_views in views for view in clip_views]
    per_clip = (len(views[0]) if views else 1) * crops
    if crops == 1:
        return flat, encoder, per_clip
    flat = [crop for view in flat for crop in encoder.preprocess.crop_views(view, crops)]
    return flat, _normalising_only(encoder), per_clip


def encode_in_batches(encoder: VideoEncoder, clips: Sequence, fusion: str = "embedding", batch_size: int = 32) -> np.ndarray:
    """uint8 clips [T, H, W, 3] (same T) -> video vectors [N, D] under ``fusion``, ``batch_size`` clips at a time."""
    encoder.model.eval()
    out = [encoder.encode_videos(clips[first : first + batch_size], fusion) for first in range(0, len(clips), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, encoder.dim), dtype=np.float32)


def embed_views(
    encoder: VideoEncoder, clips: Sequence[np.ndarray], crops: int = 1, fusion: str = "embedding", batch_size: int = 32
) -> np.ndarray:
    """Clips [T, H, W, 3] or [V, T, H, W, 3] -> unit view vectors [N, crops * V, D] (:func:`split_views`)."""
    flat, view_encoder, per_clip = split_views(encoder, clips, crops)
    vectors = encode_in_batches(view_encoder, flat, fusion, batch_size)
    return vectors.reshape(len(clips), per_clip, vectors.shape[-1])


def _normalising_only(encoder: VideoEncoder) -> VideoEncoder:
    """The same model (shared, not copied) with preprocessing that takes crop x crop frames as they are: resize
    is the crop, so neither resize nor crop applies."""
    view_encoder = copy.copy(encoder)
    view_encoder.preprocess = replace(encoder.preprocess, resize=encoder.preprocess.crop)
    return view_encoder


def combine_class_scores(cosines: np.ndarray, logit_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-view cosines [views, labels] -> (mean cosine, mean of the views' softmax probabilities) per label."""
    cosines = np.asarray(cosines, dtype=np.float64)
    probabilities = np.stack([zero_shot_probabilities(view, logit_scale) for view in cosines])
    return cosines.mean(axis=0), probabilities.mean(axis=0)


def label_scores(view_vectors: np.ndarray, label_vectors: np.ndarray, logit_scale: float) -> np.ndarray:
    """View vectors [N, views, D] -> label scores [N, labels] to rank by: the cosines when there is one view (as
    without views), else the views' mean softmax probabilities."""
    if view_vectors.shape[1] == 1:
        return view_vectors[:, 0] @ label_vectors.T
    return np.stack([combine_class_scores(views @ label_vectors.T, logit_scale)[1] for views in view_vectors])


def classify_views(
    encoder: VideoEncoder,
    clip_views: np.ndarray,
    labels: Sequence[str],
    template: str = DEFAULT_TEMPLATE,
    crops: int = 1,
    fusion: str = "embedding",
) -> Ranking:
    """Zero-shot classification of one clip ([T, H, W, 3] or [V, T, H, W, 3]) over ``crops`` x V views; one view is
    exactly :meth:`VideoEncoder.classify`."""
    vectors = embed_views(encoder, [clip_views], crops, fusion)[0]
    if len(vectors) == 1:
        return encoder.classify_vector(vectors[0], labels, template)
    label_vectors = encoder.encode_text(labels, template)
    cosines, probabilities = combine_class_scores(vectors @ label_vectors.T, encoder.logit_scale)
    order = np.argsort(-probabilities, kind="stable")
    return [(labels[i], float(cosines[i]), float(probabilities[i])) for i in order]
