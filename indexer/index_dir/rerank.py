"""IVF-PQ's float16 re-ranking store (``rerank.f16.npy``): every vector of the search index, row for row, in a .npy
file that the server memory-maps instead of loading, so a 10M x 512 index is served from its codes and ids (~1 GB)
plus whatever pages of the file the kernel keeps cached, not from 20 GB of float32 vectors in RAM.

A search takes ``k_factor`` x k candidates from the PQ codes (under a filter's selector too, as FAISS's
``IndexRefine`` does) and re-scores them in float32 from their float16 vectors: exact up to the float16 rounding of
the stored vectors, at most 2^-11 x sum |q_i x_i| (about 1e-5 for 512-d unit vectors, 5e-4 at worst). Unit vectors
fit float16's range; the store refuses vectors that do not.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterable, Sequence
from pathlib import Path

import faiss
import numpy as np
import torch

from indexer.index_dir.allowed import Subset
from indexer.index_dir.flat_search import _chunks, _count_rows

WRITE_ROWS = 65_536  # rows converted and written at a time (64 MB of float32 at 512 dimensions)
GATHER_SCORES = 1 << 23  # a re-score gathers at most this many float32 values at once (32 MB)
SCAN_ROWS = 32_768  # an exact scan of an allowed set reads this many of its rows at a time


def write_rerank_store(path: Path, vectors, rows: int = WRITE_ROWS) -> None:
    """Write ``vectors`` (any [n, d] array, a memory-map too) to ``path`` as a float16 .npy, a chunk at a time:
    never a second copy of them in memory. The caller fsyncs it with the rest of its generation."""
    n = len(vectors)
    write_rerank_chunks(path, vectors.shape, (vectors[start : start + rows] for start in range(0, n, rows)))


def write_rerank_chunks(path: Path, shape: tuple[int, int], chunks: Iterable[np.ndarray]) -> None:
    """Write the rows of ``chunks`` (arrays [m, d], in order, ``shape`` in all) to ``path`` as a float16 .npy."""
    written = 0
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": np.dtype("<f2").str, "fortran_order": False, "shape": tuple(shape)})
        for chunk in chunks:
            chunk = np.asarray(chunk, dtype=np.float32)
            if not np.isfinite(chunk).all() or np.abs(chunk).max(initial=0) > np.finfo(np.float16).max:
                raise ValueError("vectors beyond float16's range cannot be kept in the float16 re-ranking store")
            f.write(chunk.astype("<f2").tobytes())
            written += len(chunk)
    if written != shape[0]:
        raise ValueError(f"{written} rows written to {path}, {shape[0]} announced")


class RerankStore:
    """The float16 vectors [n, d] of an IVF-PQ index, memory-mapped, row ``i`` the index's row ``i``; ``k_factor``:
    how many candidates per hit wanted the PQ codes give for re-scoring (``ann.PQ_REFINE`` by default)."""

    def __init__(self, vectors: np.ndarray, k_factor: int):
        if vectors.ndim != 2 or vectors.dtype != np.float16:
            raise ValueError(f"a re-ranking store holds float16 [n, d] vectors, not {vectors.dtype} {vectors.shape}")
        self.vectors, self.k_factor = vectors, k_factor

    @classmethod
    def open(cls, path: Path, k_factor: int) -> "RerankStore":
        """``path`` memory-mapped read-only. Told the kernel its reads are random: a re-score touches a few hundred
        scattered rows, and read-ahead around each would fill memory with neighbours nobody asked for."""
        vectors = np.load(path, mmap_mode="r")
        mapped = getattr(vectors, "_mmap", None)
        if mapped is not None and hasattr(mmap, "MADV_RANDOM"):
            mapped.madvise(mmap.MADV_RANDOM)
        return cls(vectors, k_factor)

    def __len__(self) -> int:
        return len(self.vectors)

    def vector(self, row: int) -> np.ndarray:
        return np.asarray(self.vectors[row], dtype=np.float32)

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """The float32 vectors of ``positions`` (any shape of row numbers), read in file order."""
        flat = positions.ravel()
        order = np.argsort(flat, kind="stable")
        out = np.empty((len(flat), self.vectors.shape[1]), np.float32)
        out[order] = self.vectors[flat[order]]
        return out.reshape(*positions.shape, self.vectors.shape[1])

    def rescore(self, queries: np.ndarray, candidates: np.ndarray, want: int) -> tuple[np.ndarray, np.ndarray]:
        """Each query's best ``want`` of its candidate rows [N, C] (-1: none) by the float32 product with their
        float16 vectors: (scores, rows) [N, want], rows -1 (score -inf) where fewer candidates were found."""
        want = min(want, candidates.shape[1])
        scores = np.full((len(queries), want), -np.inf, np.float32)
        rows = np.full((len(queries), want), -1, np.int64)
        step = max(1, GATHER_SCORES // max(1, candidates.shape[1] * self.vectors.shape[1]))
        for chunk in _chunks(np.arange(len(queries)), step):
            found = candidates[chunk]
            vectors = torch.from_numpy(self.rows(np.maximum(found, 0)))
            exact = torch.einsum("qd,qcd->qc", torch.from_numpy(queries[chunk]), vectors)
            exact[torch.from_numpy(found < 0)] = -torch.inf
            best = torch.topk(exact, want, dim=1)
            picked = np.take_along_axis(found, best.indices.numpy(), axis=1)
            scores[chunk], rows[chunk] = best.values.numpy(), np.where(np.isfinite(best.values.numpy()), picked, -1)
        return scores, rows

    def search(
        self,
        ivf: faiss.IndexIVF,
        queries: np.ndarray,
        want: int,
        min_scores: Sequence[float | None],
        selector=None,
        nprobe: int = 0,
    ) -> tuple[np.ndarray, np.ndarray, list[int | None]]:
        """Top ``want`` (scores, rows) of each query: ``k_factor`` x ``want`` candidates from ``ivf``'s codes (among
        ``selector``'s rows when given, probing ``nprobe`` lists when given, else ``ivf.nprobe``) re-scored; and how
        many score at least each min_score, counted as ``IndexRefine`` counts (the codes' range search, re-scored)."""
        params = faiss.SearchParametersIVF(nprobe=nprobe or ivf.nprobe)
        if selector is not None:
            params.sel = selector
        _, candidates = ivf.search(queries, min(ivf.ntotal, want * self.k_factor), params=params)
        scores, rows = self.rescore(queries, candidates, want)
        return scores, rows, self._counts(ivf, queries, min_scores, params)

    def _counts(self, ivf, queries: np.ndarray, min_scores: Sequence[float | None], params) -> list[int | None]:
        counted: list[int | None] = [None] * len(queries)
        for row, min_score in enumerate(min_scores):
            if min_score is None:
                continue
            radius = float(np.nextafter(np.float32(min_score), -np.inf))  # range_search keeps scores above it
            lims, _, found = ivf.range_search(queries[row : row + 1], radius, params=params)
            total = 0
            for start in range(0, int(lims[1]), SCAN_ROWS):
                scores = self.rows(found[start : start + SCAN_ROWS]) @ queries[row]
                total += int((scores >= np.float32(min_score)).sum())
            counted[row] = total
        return counted

    def search_subset(
        self, queries: np.ndarray, want: int, min_scores: Sequence[float | None], subset: Subset
    ) -> tuple[np.ndarray, np.ndarray, list[int | None]]:
        """An exact scan of ``subset``'s rows (not empty), :class:`~indexer.index_dir.flat_search.FlatScan`'s
        ``search_subset`` over the float16 vectors: read :data:`SCAN_ROWS` at a time in file order, keeping each
        query's best ``want`` so far. Returns (scores, segment ids, counts of scores at least each min_score)."""
        want = min(want, len(subset))
        order = np.argsort(subset.positions, kind="stable")
        q = torch.from_numpy(queries)
        best_scores = torch.full((len(queries), 0), -torch.inf)
        best_at = torch.zeros((len(queries), 0), dtype=torch.int64)  # indices into subset.ids
        counted: list[int | None] = [None if m is None else 0 for m in min_scores]
        for part in _chunks(order, SCAN_ROWS):
            scores = q @ torch.from_numpy(np.asarray(self.vectors[subset.positions[part]], dtype=np.float32)).T
            partial: list[int | None] = [None] * len(queries)
            _count_rows(scores, np.arange(len(queries)), min_scores, partial)
            counted = [c if p is None else c + p for c, p in zip(counted, partial)]
            merged = torch.cat([best_scores, scores], dim=1)
            at = torch.cat([best_at, torch.from_numpy(part).expand(len(queries), -1)], dim=1)
            top = torch.topk(merged, min(want, merged.shape[1]), dim=1)
            best_scores, best_at = top.values, torch.gather(at, 1, top.indices)
        return best_scores.numpy(), subset.ids[best_at.numpy()], counted


def open_rerank_store(path: Path, rows: int, k_factor: int) -> RerankStore:
    """The store of a generation whose search index holds ``rows`` vectors (ValueError when it holds others)."""
    store = RerankStore.open(path, k_factor)
    if len(store) != rows:
        raise ValueError(f"{path} holds {len(store)} vectors, its search index {rows}")
    return store
