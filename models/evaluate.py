"""Measuring an encoder: text->video / video->text retrieval and zero-shot classification over decoded clips.

The caller decodes the clips (``indexer.dataset``); here they are only embedded and scored. A clip may come with
temporal views ([V, T, H, W, 3]) and be cut into spatial crops: the views are combined as :mod:`models.views` says.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.encoder import VideoEncoder
from models.metrics import retrieval_metrics, top_k_accuracy
from models.prompts import DEFAULT_TEMPLATE
from models.views import encode_in_batches, label_scores, split_views


def embed_clips(
    encoder: VideoEncoder, clips: Sequence[np.ndarray], fusion: str = "embedding", batch_size: int = 32
) -> np.ndarray:
    """uint8 clips [T, H, W, 3] (same T) -> video vectors [N, D] under ``fusion``."""
    return encode_in_batches(encoder, clips, fusion, batch_size)


def embed_texts(encoder: VideoEncoder, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
    encoder.model.eval()
    return np.concatenate([encoder.encode_text(list(texts[i : i + batch_size])) for i in range(0, len(texts), batch_size)])


def evaluate(
    encoder: VideoEncoder,
    clips: Sequence[np.ndarray],
    video_keys: Sequence,
    captions: Sequence[str | None],
    labels: Sequence[str | None] = (),
    template: str = DEFAULT_TEMPLATE,
    fusion: str = "embedding",
    batch_size: int = 32,
    crops: int = 1,
) -> dict:
    """Metrics over rows (clip i of ``clips`` belongs to row i; rows sharing a ``video_keys`` value are one video).

    Retrieval runs over the distinct captions and distinct videos (a caption shared by several videos
    counts as found at the best of them); classification runs over the distinct labels, each wrapped
    in ``template``. With several views (``crops`` spatial crops x the clips' temporal views) a video's
    similarity to a caption is the mean of its views' cosines, and its label scores the mean of the views'
    softmax probabilities (ViFi-CLIP's validate); one view scores by the cosines, as without views.
    """
    video_index: dict = {}
    for key in video_keys:
        video_index.setdefault(key, len(video_index))
    first_row = {}
    for row, key in enumerate(video_keys):
        first_row.setdefault(video_index[key], row)
    flat, view_encoder, per_video = split_views(encoder, [clips[first_row[v]] for v in range(len(video_index))], crops)
    vectors = embed_clips(view_encoder, flat, fusion, batch_size)
    view_vectors = vectors.reshape(len(video_index), per_video, vectors.shape[-1])  # [videos, views, D]
    video_vectors = view_vectors.mean(axis=1)  # cosines averaged over views = dot products with the mean view
    result: dict = {"fusion": fusion}
    pairs = [(c, video_index[k]) for c, k in zip(captions, video_keys) if c]
    if pairs:
        texts = sorted({c for c, _ in pairs})
        text_index = {t: i for i, t in enumerate(texts)}
        positives = np.zeros((len(texts), len(video_index)), dtype=bool)
        for caption, v in pairs:
            positives[text_index[caption], v] = True
        has_caption = positives.any(axis=0)
        result.update(retrieval_metrics(embed_texts(encoder, texts), video_vectors[has_caption], positives[:, has_caption]))
    labelled = {video_index[k]: label for k, label in zip(video_keys, labels) if label}
    if labelled:
        names = sorted(set(labelled.values()))
        label_vectors = embed_texts(encoder, [template.format(n) for n in names])
        videos = sorted(labelled)
        similarity = label_scores(view_vectors[videos], label_vectors, encoder.logit_scale)
        result.update(top_k_accuracy(similarity, [names.index(labelled[v]) for v in videos]))
        result["labels"] = len(names)
    return result
