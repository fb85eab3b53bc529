"""Searching an opened FAISS index, a batch of queries at a time: top hits from an offset, and how many score at least a
minimum. A flat (exact) store is scanned here, with one matrix product per batch, in float32 or in a bfloat16 copy
whose answers are proven exact by re-scoring; other indexes answer through FAISS. A single query is a batch of one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cached_property

import faiss
import numpy as np
import torch

FLAT_BATCH_SCORES = 1 << 24  # a batched flat search scores at most this many (query, vector) pairs at once (64 MB)
# |bfloat16 score - exact score| <= this x |query| x |vector|: each input rounded (2 x 2^-8 relative, to first
# order), float32 accumulation (~D x 2^-24 << 2^-12) and the output rounded to bfloat16 (2^-8).
BF16_SCORE_ERROR = 3 * 2.0**-8 + 2.0**-12
BF16_POOL = 256  # candidates a bfloat16 scan keeps per query for exact re-scoring

Hits = list[tuple[int, float]]  # (segment id, score), best first


class FlatScan:
    """The exact inner-product scan of a flat store: its ids and vectors [n, D] (a view of FAISS's own memory when
    made by :meth:`of_index`), with a bfloat16 copy of the vectors when ``bf16`` is on."""

    def __init__(self, ids: np.ndarray, vectors: torch.Tensor, bf16: bool = False):
        self.ids, self.vectors, self.bf16 = ids, vectors, bf16

    @classmethod
    def of_index(cls, index: faiss.Index, bf16: bool = False) -> "FlatScan | None":
        """The scan of an ``IndexIDMap2(IndexFlatIP)``; None for approximate indexes."""
        if not isinstance(index, faiss.IndexIDMap2):
            return None
        flat = faiss.downcast_index(index.index)
        if not isinstance(flat, faiss.IndexFlat) or flat.metric_type != faiss.METRIC_INNER_PRODUCT:
            return None
        vectors = faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d)
        return cls(faiss.vector_to_array(index.id_map).astype(np.int64), torch.from_numpy(vectors), bf16)

    @cached_property
    def _low(self) -> tuple[torch.Tensor, float]:
        """(the vectors in bfloat16, their largest norm): 1.5x the memory, made on the first bfloat16 scan."""
        return self.vectors.to(torch.bfloat16), float(self.vectors.norm(dim=1).max())

    def search(
        self, queries: np.ndarray, want: int, min_scores: Sequence[float | None]
    ) -> tuple[np.ndarray, np.ndarray, list[int | None]]:
        """Exact top ``want`` (scores, ids) of each query, and how many score at least its min_score.

        One matrix product scores a whole batch, reading the vectors once. FAISS's flat search scans them once
        per query (this faiss-cpu build uses BLAS only from 128000 queries up): 2.5x the CPU for 8 queries at
        100k vectors. torch, not numpy: its threads are the query worker's (numpy's BLAS threads spin between
        calls, taking a core from the encoder; benchmarks/bench_query.py). With ``bf16`` most rows are answered
        by :meth:`bf16_top`; the float32 product scores only those it cannot prove, and rows with a min_score
        (their count needs every exact score)."""
        top_scores = np.empty((len(queries), want), np.float32)
        top_ids = np.empty((len(queries), want), np.int64)
        counted: list[int | None] = [None] * len(queries)
        rows = np.arange(len(queries))
        if self.bf16:
            rows = np.array([row for row, m in enumerate(min_scores) if m is None], dtype=np.int64)
            scores, ids, proven = self.bf16_top(queries[rows], want)
            top_scores[rows[proven]], top_ids[rows[proven]] = scores[proven], ids[proven]
            rows = np.setdiff1d(np.arange(len(queries)), rows[proven])
        for chunk in _chunks(rows, self._step):
            scores = torch.from_numpy(queries[chunk]) @ self.vectors.T
            top = torch.topk(scores, want, dim=1)
            top_scores[chunk] = top.values.numpy()
            top_ids[chunk] = self.ids[top.indices.numpy()]
            for i, row in enumerate(chunk):
                if min_scores[row] is not None:  # as range_search counts: scores >= min_score in float32
                    counted[row] = int((scores[i] >= np.float32(min_scores[row])).sum())
        return top_scores, top_ids, counted

    def bf16_top(self, queries: np.ndarray, want: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each query's top ``want`` (scores, ids) from a bfloat16 scan re-scored in float32, and which rows are
        proven to be the exact answer (a boolean per row; the others' answers are not to be used).

        The bfloat16 product picks each query's :data:`BF16_POOL` best candidates, which are re-scored in
        float32. A vector outside the pool scores at most the pool's lowest bfloat16 score plus the rounding
        bound (:data:`BF16_SCORE_ERROR`), so when the exact ``want``-th best candidate scores at least that,
        nothing outside can beat it: the answer is the float32 scan's (ties aside)."""
        low, largest_norm = self._low
        pool = min(len(self.ids), max(BF16_POOL, 4 * want))
        top_scores = np.empty((len(queries), want), np.float32)
        top_ids = np.empty((len(queries), want), np.int64)
        proven = np.zeros(len(queries), bool)
        for chunk in _chunks(np.arange(len(queries)), self._step):
            q = torch.from_numpy(queries[chunk])
            approx, candidates = torch.topk(q.to(torch.bfloat16) @ low.T, pool, dim=1)
            exact = torch.einsum("qd,qpd->qp", q, self.vectors[candidates])
            best = torch.topk(exact, want, dim=1)
            bound = approx[:, -1].float() + BF16_SCORE_ERROR * q.norm(dim=1) * largest_norm
            proven[chunk] = (best.values[:, -1] >= bound).numpy() | (pool == len(self.ids))
            top_scores[chunk] = best.values.numpy()
            top_ids[chunk] = self.ids[torch.gather(candidates, 1, best.indices).numpy()]
        return top_scores, top_ids, proven

    @property
    def _step(self) -> int:
        return max(1, FLAT_BATCH_SCORES // len(self.ids))  # bounds the [queries, n] score matrix


class VectorSearch:
    """The search side of one opened FAISS index (``bf16_scan``: let a flat store's scan find its candidates in
    bfloat16, see :class:`FlatScan`)."""

    def __init__(self, index: faiss.Index, bf16_scan: bool = False):
        self.index, self.bf16_scan = index, bf16_scan

    @property
    def count(self) -> int:
        return int(self.index.ntotal)

    @cached_property
    def flat(self) -> FlatScan | None:
        """The exact scan of a flat store (None for approximate indexes), made on first use."""
        return FlatScan.of_index(self.index, self.bf16_scan)

    def search_batch(
        self, queries: np.ndarray, ks: Sequence[int], offsets: Sequence[int], min_scores: Sequence[float | None]
    ) -> list[tuple[Hits, int]]:
        """Row ``i`` of ``queries`` [N, D]: its hits ``offsets[i]..offsets[i]+ks[i]`` by inner product (at least
        ``min_scores[i]`` where given) and how many match in all. The vectors are read once for all N."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or not len(queries) == len(ks) == len(offsets) == len(min_scores):
            raise ValueError(
                f"search_batch needs queries [N, D] and N ks, offsets and min_scores; got queries of shape {queries.shape} "
                f"and {len(ks)}, {len(offsets)}, {len(min_scores)}"
            )
        if self.count == 0 or len(queries) == 0:
            return [([], 0) for _ in range(len(queries))]
        want = min(self.count, max(o + k for o, k in zip(offsets, ks)))
        if self.flat is not None and (len(queries) > 1 or self.bf16_scan):  # one float32 query: FAISS's scan is cheaper
            scores, ids, counted = self.flat.search(queries, want, min_scores)
        else:
            scores, ids = self.index.search(queries, want)
            counted = self._counts(queries, min_scores)
        results = []
        for row, (k, offset, min_score) in enumerate(zip(ks, offsets, min_scores)):
            hits = [(int(i), float(s)) for i, s in zip(ids[row, : offset + k], scores[row, : offset + k]) if i >= 0]
            if min_score is not None:
                hits = [h for h in hits if h[1] >= min_score]
                total = counted[row] if counted[row] is not None else len(hits)
            else:
                total = self.count
            results.append((hits[offset : offset + k], total))
        return results

    def _counts(self, queries: np.ndarray, min_scores: Sequence[float | None]) -> list[int | None]:
        """How many vectors score at least each row's min_score (None where it has none or the index cannot tell)."""
        counted: list[int | None] = [None] * len(queries)
        for min_score in {m for m in min_scores if m is not None}:
            rows = [i for i, m in enumerate(min_scores) if m == min_score]
            try:
                # range_search keeps scores strictly above the radius; nudge it so ">= min_score" counts.
                lims, _, _ = self.index.range_search(queries[rows], float(np.nextafter(np.float32(min_score), -np.inf)))
            except RuntimeError:  # index types without range search
                continue
            for row, count in zip(rows, np.diff(lims)):
                counted[row] = int(count)
        return counted


def _chunks(rows: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
