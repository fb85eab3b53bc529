"""Searching an opened FAISS index, a batch of queries at a time: top hits from an offset, and how many score at least a
minimum. A flat (exact) store is scanned here, with one matrix product per batch, in float32 or in a bfloat16 copy
whose answers are proven exact by re-scoring; other indexes answer through FAISS. A single query is a batch of one.

Each query may be restricted to an allowed set of segment ids (a filter): the search itself runs over those only, so
its hits are the true top among them, not what survives of an unfiltered top. See :meth:`VectorSearch.search_batch`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from functools import cached_property

import faiss
import numpy as np
import torch

from indexer.index_dir.allowed import IdPositions, Subset

FLAT_BATCH_SCORES = 1 << 24  # a batched flat search scores at most this many (query, vector) pairs at once (64 MB)
# |bfloat16 score - exact score| <= this x |query| x |vector|: each input rounded (2 x 2^-8 relative, to first
# order), float32 accumulation (~D x 2^-24 << 2^-12) and the output rounded to bfloat16 (2^-8).
BF16_SCORE_ERROR = 3 * 2.0**-8 + 2.0**-12
BF16_POOL = 256  # candidates a bfloat16 scan keeps per query for exact re-scoring
# Filtered searches, measured at 100k x 512 clustered vectors (benchmarks/bench_ann.py's data), 1 thread, 2 busy cores:
# an exact scan of m allowed vectors (copied out, then one product) took 0.4 ms at m = 1000, 1.8-2 ms at 2000, 3.3 at
# 4000, 6 at 8000; FAISS's filtered search 1.2-2 ms (HNSW, efSearch 1024) and 0.3-0.6 ms (IVF-PQ, nprobe 32), but its
# recall@10 among the allowed falls for a selective filter: HNSW 1.00 at 2 % allowed, 0.90 at 1 %, 0.62 at 0.5 %,
# 0.32 at 0.25 %; IVF-PQ 1.00 at 2 %, 0.97 at 1 %, 0.83 at 0.5 %, 0.68 at 0.25 % (a graph walk or the probed lists
# meet too few allowed vectors). So an approximate index scans small or selective sets exactly:
EXACT_SUBSET_MAX = 2048  # at most this many allowed vectors: an exact scan costs about an HNSW search
EXACT_SUBSET_FRACTION = 0.02  # ... or at most this part of the index: below it the approximate recall drops
# ... except where an IVF index probes more lists instead: from the memory-mapped float16 store an exact scan costs
# ~1.1 us a row (10M x 512, warm: 10 ms for 10k rows, 115 ms for 100k, 275 ms for 200k, the 2 % that the fraction
# let through), while probing one more list of codes costs ~7 ns a code. A set below the fraction probes
# nprobe x (fraction x n / allowed)^2 lists: at 10M, 1 % allowed with 128 lists gave recall@10 0.979 in 4.6 ms, 0.3 %
# with 1024-2048 lists 0.955-0.978 in 8-15 ms (with 32 lists: 0.95 and 0.66); at 1M, 1 % with 128 lists 1.000. It
# scans exactly instead where those lists hold more codes than this many per allowed vector (10M: 0.1 % allowed):
EXACT_ROW_CODES = 128
# Copying the allowed vectors out pays while they are a small part of a store (10 %: 8 ms against 34 ms for the
# whole product at 100k x 512); at 25 % the copy took longer than scoring every vector and picking the allowed.
GATHER_MAX_FRACTION = 1 / 8

Hits = list[tuple[int, float]]  # (segment id, score), best first
Allowed = np.ndarray | None  # the segment ids a query may return (sorted int64); None: every segment


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
        return cls(faiss.vector_to_array(index.id_map).astype(np.int64), _vectors_of(flat), bf16)

    @classmethod
    def of_storage(cls, index: faiss.Index) -> "FlatScan | None":
        """The exact scan of the full vectors an approximate ``IndexIDMap2`` keeps beside its graph or codes
        (HNSW's storage, IVF-PQ's exact re-ranking store), row for row; None where it keeps none (``refine``
        ``sq8`` or ``none``)."""
        if not isinstance(index, faiss.IndexIDMap2):
            return None
        inner = faiss.downcast_index(index.index)
        if isinstance(inner, faiss.IndexHNSWFlat):
            flat = faiss.downcast_index(inner.storage)
        elif isinstance(inner, faiss.IndexRefine):
            flat = faiss.downcast_index(inner.refine_index)
        else:
            return None
        if not isinstance(flat, faiss.IndexFlat) or flat.metric_type != faiss.METRIC_INNER_PRODUCT:
            return None
        if flat.ntotal != index.ntotal:
            return None
        return cls(faiss.vector_to_array(index.id_map).astype(np.int64), _vectors_of(flat))

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
            _count_rows(scores, chunk, min_scores, counted)
        return top_scores, top_ids, counted

    def search_subset(
        self, queries: np.ndarray, want: int, min_scores: Sequence[float | None], subset: Subset
    ) -> tuple[np.ndarray, np.ndarray, list[int | None]]:
        """:meth:`search` over the rows of ``subset`` only (not empty): exact, in float32. A small subset's
        vectors are copied out and scored; a large one's are scored with the rest and picked
        (:data:`GATHER_MAX_FRACTION`)."""
        want = min(want, len(subset))
        top_scores = np.empty((len(queries), want), np.float32)
        top_ids = np.empty((len(queries), want), np.int64)
        counted: list[int | None] = [None] * len(queries)
        gather = len(subset) <= GATHER_MAX_FRACTION * len(self.ids)
        vectors = torch.index_select(self.vectors, 0, subset.tensor) if gather else self.vectors
        for chunk in _chunks(np.arange(len(queries)), max(1, FLAT_BATCH_SCORES // len(vectors))):
            scores = torch.from_numpy(queries[chunk]) @ vectors.T
            if not gather:
                scores = scores[:, subset.tensor]
            top = torch.topk(scores, want, dim=1)
            top_scores[chunk] = top.values.numpy()
            top_ids[chunk] = subset.ids[top.indices.numpy()]
            _count_rows(scores, chunk, min_scores, counted)
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
    bfloat16, see :class:`FlatScan`; ``rerank``: an IVF-PQ codes-only index's memory-mapped float16 vectors, a
    :class:`~indexer.index_dir.rerank.RerankStore`, which re-scores its candidates and scans small allowed sets)."""

    def __init__(self, index: faiss.Index, bf16_scan: bool = False, rerank=None):
        self.index, self.bf16_scan, self.rerank = index, bf16_scan, rerank

    @property
    def count(self) -> int:
        return int(self.index.ntotal)

    @cached_property
    def flat(self) -> FlatScan | None:
        """The exact scan of a flat store (None for approximate indexes), made on first use."""
        return FlatScan.of_index(self.index, self.bf16_scan)

    @cached_property
    def exact(self):
        """An exact scan of every vector: the flat store's, an approximate index's own full vectors or its re-ranking
        store (None where it keeps none); a filtered search scans small allowed sets with it."""
        if self.flat is not None:
            return self.flat
        return self.rerank if self.rerank is not None else FlatScan.of_storage(self.index)

    @cached_property
    def positions(self) -> IdPositions:
        """Segment ids to vector rows (made once: the id order is the order the vectors were added in)."""
        if self.flat is not None:
            return IdPositions(self.flat.ids)
        if isinstance(self.index, faiss.IndexIDMap):
            return IdPositions(faiss.vector_to_array(self.index.id_map).astype(np.int64))
        return IdPositions(np.arange(self.count, dtype=np.int64))

    @cached_property
    def _inner(self) -> faiss.Index:
        """The index under the id map, which a filtered FAISS search runs on (its labels are row positions)."""
        return faiss.downcast_index(self.index.index) if isinstance(self.index, faiss.IndexIDMap) else self.index

    def search_batch(
        self,
        queries: np.ndarray,
        ks: Sequence[int],
        offsets: Sequence[int],
        min_scores: Sequence[float | None],
        allowed: Sequence[Allowed] | None = None,
    ) -> list[tuple[Hits, int]]:
        """Row ``i`` of ``queries`` [N, D]: its hits ``offsets[i]..offsets[i]+ks[i]`` by inner product (at least
        ``min_scores[i]`` where given) and how many match in all. The vectors are read once for all N.

        ``allowed[i]`` (sorted int64 segment ids; None: all) restricts row ``i`` to those segments, in the search
        itself: a flat store scores only them, exactly, with the same ties and counts as an unfiltered search
        (the total counts the allowed segments, or those scoring at least ``min_scores[i]``); an approximate
        index scans a small or selective set exactly over its own full vectors or float16 re-ranking store and
        searches a larger one with a FAISS selector, its tuned efSearch, or an IVF index's nprobe raised for a
        selective set (:meth:`filtered_nprobe`; the re-ranking store re-scoring its candidates). Rows that share one
        allowed array (the same object) are searched together. An empty set finds nothing, total 0."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        allowed = [None] * len(ks) if allowed is None else list(allowed)
        if queries.ndim != 2 or not len(queries) == len(ks) == len(offsets) == len(min_scores) == len(allowed):
            raise ValueError(
                f"search_batch needs queries [N, D] and N ks, offsets, min_scores (and allowed sets); got queries of "
                f"shape {queries.shape} and {len(ks)}, {len(offsets)}, {len(min_scores)}, {len(allowed)}"
            )
        if self.count == 0 or len(queries) == 0:
            return [([], 0) for _ in range(len(queries))]
        want = min(self.count, max(o + k for o, k in zip(offsets, ks)))
        found: list = [None] * len(queries)  # per row: (scores, ids, counted, how many it may match)
        for rows, subset in self._groups(allowed):
            row_min = [min_scores[r] for r in rows]
            if subset is None:
                scores, ids, counted = self._search_all(queries[rows], want, row_min)
            elif len(subset) == 0:
                scores, ids, counted = np.zeros((len(rows), 0), np.float32), np.zeros((len(rows), 0), np.int64), None
            else:
                scores, ids, counted = self._search_subset(queries[rows], want, row_min, subset)
            size = self.count if subset is None else len(subset)
            for i, row in enumerate(rows):
                found[row] = (scores[i], ids[i], None if counted is None else counted[i], size)
        return [_page(*found[row], *ask) for row, ask in enumerate(zip(ks, offsets, min_scores))]

    def _groups(self, allowed: Sequence[Allowed]) -> list[tuple[list[int], Subset | None]]:
        """The rows to search together: the unfiltered ones, then those of each allowed array."""
        by_set: dict[int, list[int]] = {}
        for row, ids in enumerate(allowed):
            by_set.setdefault(-1 if ids is None else id(ids), []).append(row)
        return [(rows, None if key == -1 else self.positions.subset(allowed[rows[0]])) for key, rows in by_set.items()]

    def _search_all(self, queries: np.ndarray, want: int, min_scores: Sequence[float | None]):
        if self.flat is not None and (len(queries) > 1 or self.bf16_scan):  # one float32 query: FAISS's scan is cheaper
            return self.flat.search(queries, want, min_scores)
        if self.rerank is not None:
            scores, rows, counted = self.rerank.search(self._inner, queries, want, min_scores)
            return scores, self._ids_of(rows), counted
        scores, ids = self.index.search(queries, want)
        return scores, ids, self._counts(self.index, queries, min_scores)

    def _search_subset(self, queries: np.ndarray, want: int, min_scores: Sequence[float | None], subset: Subset):
        nprobe = self.filtered_nprobe(len(subset))
        if self.exact is not None and (self.flat is not None or nprobe is None):
            return self.exact.search_subset(queries, want, min_scores, subset)
        selector = subset.selector()
        if self.rerank is not None:
            scores, rows, counted = self.rerank.search(self._inner, queries, want, min_scores, selector, nprobe)
            return scores, self._ids_of(rows), counted
        params, _keep = _filtered_params(self._inner, selector, nprobe)  # _keep: what params point to, kept alive
        scores, rows = self._inner.search(queries, want, params=params)
        return scores, self._ids_of(rows), self._counts(self._inner, queries, min_scores, params)

    def filtered_nprobe(self, allowed: int) -> int | None:
        """How many lists an IVF index probes to search among ``allowed`` of its vectors (0 for other indexes), or
        None where the exact scan over its full vectors serves better: a small or selective set
        (:data:`EXACT_SUBSET_MAX`, :data:`EXACT_SUBSET_FRACTION`, :data:`EXACT_ROW_CODES`)."""
        cut = EXACT_SUBSET_FRACTION * self.count
        ivf = self._ivf
        if ivf is None:  # HNSW: its recall falls below the thresholds, while its full vectors are in memory
            return None if allowed <= max(EXACT_SUBSET_MAX, cut) else 0
        probes = min(ivf.nlist, math.ceil(ivf.nprobe * max(1.0, cut / allowed) ** 2))
        exact_cheaper = allowed <= EXACT_SUBSET_MAX or probes * self.count / ivf.nlist > EXACT_ROW_CODES * allowed
        return None if self.exact is not None and exact_cheaper else probes

    @cached_property
    def _ivf(self) -> faiss.IndexIVF | None:
        """The inverted lists a filtered search probes (under an IndexRefine too); None for other indexes."""
        inner = self._inner
        if isinstance(inner, faiss.IndexRefine):
            inner = faiss.downcast_index(inner.base_index)
        return inner if isinstance(inner, faiss.IndexIVF) else None

    def _ids_of(self, rows: np.ndarray) -> np.ndarray:
        return np.where(rows >= 0, self.positions.ids[np.maximum(rows, 0)], -1)  # FAISS's -1: no hit

    @staticmethod
    def _counts(index: faiss.Index, queries: np.ndarray, min_scores: Sequence[float | None], params=None) -> list[int | None]:
        """How many vectors score at least each row's min_score (None where it has none or the index cannot tell)."""
        counted: list[int | None] = [None] * len(queries)
        for min_score in {m for m in min_scores if m is not None}:
            rows = [i for i, m in enumerate(min_scores) if m == min_score]
            radius = float(np.nextafter(np.float32(min_score), -np.inf))
            try:
                # range_search keeps scores strictly above the radius; nudged, it counts ">= min_score".
                lims, _, _ = index.range_search(queries[rows], radius, params=params)
            except RuntimeError:  # index types without range search
                continue
            for row, count in zip(rows, np.diff(lims)):
                counted[row] = int(count)
        return counted


def _page(scores: np.ndarray, ids: np.ndarray, counted: int | None, size: int, k: int, offset: int, min_score):
    """One row's answer: its hits ``offset..offset+k`` and how many match in all (``size``: how many it searched)."""
    hits = [(int(i), float(s)) for i, s in zip(ids[: offset + k], scores[: offset + k]) if i >= 0]
    if min_score is None:
        return hits[offset : offset + k], size
    hits = [h for h in hits if h[1] >= min_score]
    return hits[offset : offset + k], counted if counted is not None else len(hits)


def _filtered_params(index: faiss.Index, selector: faiss.IDSelector, nprobe: int = 0) -> tuple[faiss.SearchParameters, tuple]:
    """Search parameters that restrict ``index`` (an index under the id map) to ``selector``'s rows and keep its
    tuned query-time knobs (efSearch, nprobe unless ``nprobe`` is given, k_factor: see ann.tune_for_search); and
    the objects they point to."""
    if isinstance(index, faiss.IndexRefine):
        base, keep = _filtered_params(faiss.downcast_index(index.base_index), selector, nprobe)
        params = faiss.IndexRefineSearchParameters(k_factor=index.k_factor, base_index_params=base)
        return params, (base, *keep)
    if isinstance(index, faiss.IndexHNSW):
        return faiss.SearchParametersHNSW(sel=selector, efSearch=index.hnsw.efSearch), (selector,)
    if isinstance(index, faiss.IndexIVF):
        return faiss.SearchParametersIVF(sel=selector, nprobe=nprobe or index.nprobe), (selector,)
    return faiss.SearchParameters(sel=selector), (selector,)


def _count_rows(scores: torch.Tensor, chunk: np.ndarray, min_scores: Sequence[float | None], counted: list) -> None:
    """Count, for each row of ``chunk`` that has a min_score, its scores at least that (in float32, as range_search)."""
    for i, row in enumerate(chunk):
        if min_scores[row] is not None:
            counted[row] = int((scores[i] >= np.float32(min_scores[row])).sum())


def _vectors_of(flat: faiss.IndexFlat) -> torch.Tensor:
    """A flat index's vectors [n, D]: a view of FAISS's own memory (valid while the index lives)."""
    return torch.from_numpy(faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d))


def _chunks(rows: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
