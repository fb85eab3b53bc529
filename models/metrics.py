"""Retrieval and zero-shot classification metrics: pure functions of a similarity matrix.

Ties are counted against the query (a candidate scoring exactly as high as the right answer ranks
above it), so a model that maps everything to one vector scores chance, not perfection.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def ranks(similarity: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """1-based rank of each row's best-scoring positive column among that row's negatives.

    ``similarity`` and ``positives`` (bool) are [queries, candidates]; every row needs a positive.
    """
    similarity = np.asarray(similarity, dtype=np.float64)
    positives = np.asarray(positives, dtype=bool)
    if similarity.shape != positives.shape:
        raise ValueError(f"similarity {similarity.shape} and positives {positives.shape} differ in shape")
    if not positives.any(axis=1).all():
        raise ValueError("every query needs at least one positive candidate")
    best = np.where(positives, similarity, -np.inf).max(axis=1)
    return ((similarity >= best[:, None]) & ~positives).sum(axis=1) + 1


def recall_summary(query_ranks: np.ndarray, prefix: str, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """R@k (fractions in 0..1), median and mean rank, keyed ``{prefix}_r1``, ``{prefix}_medr``, ``{prefix}_mnr``."""
    query_ranks = np.asarray(query_ranks)
    out = {f"{prefix}_r{k}": float((query_ranks <= k).mean()) for k in ks}
    out[f"{prefix}_medr"] = float(np.median(query_ranks))
    out[f"{prefix}_mnr"] = float(query_ranks.mean())
    return out


def retrieval_metrics(text_vectors: np.ndarray, video_vectors: np.ndarray, positives: np.ndarray) -> dict[str, float]:
    """Text->video and video->text metrics; ``positives[i, j]`` says text i describes video j."""
    similarity = np.asarray(text_vectors) @ np.asarray(video_vectors).T
    positives = np.asarray(positives, dtype=bool)
    return {
        **recall_summary(ranks(similarity, positives), "t2v"),
        **recall_summary(ranks(similarity.T, positives.T), "v2t"),
        "queries": int(similarity.shape[0]),
        "videos": int(similarity.shape[1]),
        "chance_r1": 1.0 / similarity.shape[1],
    }


def top_k_accuracy(similarity: np.ndarray, targets: Sequence[int], ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Zero-shot classification: ``similarity`` [videos, labels], ``targets`` the right label per video."""
    similarity = np.asarray(similarity)
    positives = np.zeros(similarity.shape, dtype=bool)
    positives[np.arange(len(targets)), np.asarray(targets)] = True
    label_ranks = ranks(similarity, positives)
    return {f"zs_top{k}": float((label_ranks <= k).mean()) for k in ks}
