"""Choosing and building the search index: exact (Flat) for small libraries, approximate (HNSW, IVF-PQ) for large.

The canonical store is always an ``IndexIDMap2(IndexFlatIP)`` (``vectors.faiss``): exact, supports removal
and reconstruction, so incremental builds stay simple. When the library is large, publishing also builds an
approximate index from those vectors (``search.faiss``), trained on the library's own vectors (never random
ones), and the server loads only that. Thresholds come from ``benchmarks/bench_ann.py``.
"""

from __future__ import annotations

import math

import faiss
import numpy as np

INDEX_TYPES = ("auto", "flat", "hnsw", "ivfpq")
FLAT_MAX = 100_000  # exact search stays under ~10 ms per query below this on 2 cores
HNSW_MAX = 4_000_000  # above this HNSW's memory (vectors + graph) outgrows one machine: IVF-PQ
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, 256
IVF_NPROBE = 32
PQ_REFINE = 4  # re-rank 4x k candidates with the exact vectors
IVFPQ_MIN = 10_000  # fewer vectors than this cannot train 256-centroid codebooks well: exact search instead


def choose_index_type(count: int, requested: str = "auto") -> str:
    if requested not in INDEX_TYPES:
        raise ValueError(f"unknown index type {requested!r}; choose from {', '.join(INDEX_TYPES)}")
    if requested == "ivfpq" and count < IVFPQ_MIN:
        return "flat"
    if requested != "auto":
        return requested
    if count <= FLAT_MAX:
        return "flat"
    return "hnsw" if count <= HNSW_MAX else "ivfpq"


def stored_vectors(store: faiss.IndexIDMap2) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of a canonical IDMap2(Flat) store."""
    ids = faiss.vector_to_array(store.id_map).astype(np.int64)
    vectors = store.index.reconstruct_n(0, store.ntotal) if store.ntotal else np.zeros((0, store.d), np.float32)
    return ids, vectors


def build_search_index(store: faiss.IndexIDMap2, kind: str, seed: int = 0) -> faiss.Index:
    """An approximate index over every vector of ``store`` (same ids); ``flat`` returns the store itself."""
    if kind == "flat":
        return store
    ids, vectors = stored_vectors(store)
    n, d = vectors.shape
    if kind == "hnsw":
        inner = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    elif kind == "ivfpq":
        nlist = max(16, min(65536, int(2 * math.sqrt(n))))
        m = next(m for m in (64, 32, 16, 8, 4, 2, 1) if d % m == 0 and m <= d)
        quantizer = faiss.IndexFlatIP(d)
        ivf = faiss.IndexIVFPQ(quantizer, d, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
        sample = vectors[np.random.default_rng(seed).permutation(n)[: min(200_000, max(40 * nlist, 20_000))]]
        ivf.train(sample)  # trained on the library's own vectors
        inner = faiss.IndexRefineFlat(ivf)
        inner.k_factor = PQ_REFINE
    else:
        raise ValueError(f"unknown index type {kind!r}")
    index = faiss.IndexIDMap2(inner)
    index.add_with_ids(vectors, ids)
    return index


def tune_for_search(index: faiss.Index) -> faiss.Index:
    """Set the query-time knobs that the benchmark chose (they are not stored in the file)."""
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
    if isinstance(inner, faiss.IndexHNSWFlat):
        inner.hnsw.efSearch = HNSW_EF_SEARCH
    if isinstance(inner, faiss.IndexRefineFlat):
        inner.k_factor = PQ_REFINE
        base = faiss.downcast_index(inner.base_index)
        if isinstance(base, faiss.IndexIVF):
            base.nprobe = IVF_NPROBE
    return index
