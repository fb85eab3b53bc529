"""Choosing and building the search index: exact (Flat) for small libraries, approximate (HNSW, IVF-PQ) for large.

The canonical store is always an ``IndexIDMap2(IndexFlatIP)`` (``vectors.faiss``): exact, supports removal
and reconstruction, so incremental builds stay simple. When the library is large, publishing also builds an
approximate index from those vectors (``search.faiss``), trained on the library's own vectors (never random
ones), and the server loads only that. Thresholds come from ``benchmarks/bench_ann.py``.

IVF-PQ re-ranks ``k_factor`` x k candidates of its codes by their full vectors. Where the float32 vectors for that
would take more than :data:`RERANK_IN_MEMORY_MAX` of RAM (from ~524k 512-d vectors), it re-ranks from a float16 copy
of them written beside the index (``rerank.f16.npy``, :mod:`indexer.index_dir.rerank`) that the server memory-maps:
the index in RAM is then codes and ids only (85 bytes/vector at 1M; docs/scale.md), and scores are float32
products of the float16 vectors (within ~1e-5 of the float32 ones for 512-d unit vectors; recall the same). Below
it the float32 vectors stay inside the index (``IndexRefineFlat``): bit-exact scores, at most 1 GiB.
Serialised sizes at 1M x 512 (what the server would load): Flat 2056 bytes/vector, HNSW (M 32) 2328, IVF-PQ with
the in-memory float32 store 2133, ``refine="sq8"`` 610 (recall@10 0.95-0.97 at 100k), ``refine="none"`` 85
(recall@10 0.41).

With a CUDA build of FAISS (the ``faiss-gpu`` extra, the CUDA image) IVF-PQ's coarse k-means runs on the GPUs;
what is saved is the same plain CPU index.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import faiss
import numpy as np

from indexer.index_dir.layout import RERANK
from indexer.index_dir.rerank import write_rerank_store

log = logging.getLogger(__name__)

INDEX_TYPES = ("auto", "flat", "hnsw", "ivfpq")
# Measured with benchmarks/bench_ann.py (clustered 512-d vectors, 200 queries, 1 search thread, 2 loaded cores):
#   100k: Flat 36-60 ms; HNSW efSearch 256 recall@10 0.91, 512 0.97 (0.9 ms); IVF-PQ k_factor 4 0.74, 32 0.99 (0.4 ms)
#   500k: Flat 94 ms;    HNSW efSearch 512 0.92, 1024 1.00 (2.3 ms, 268 s build)
#   1M:   Flat 219 ms;   HNSW efSearch 256 0.69, 1024 0.95 (2.4 ms, 668 s build); IVF-PQ k_factor 32 0.99 (0.8 ms, 128 s)
FLAT_MAX = 100_000  # exact search: 36-60 ms per query at 100k on 2 loaded cores
HNSW_MAX = 500_000  # above this HNSW needs efSearch > 1024 for recall@10 >= 0.95 and builds ~5x slower than IVF-PQ
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, 1024  # efSearch 256 gave recall 0.91 at 100k, 0.69 at 1M
IVF_NPROBE = 32  # 64 probes gave the same recall at 100k and 1M: the PQ ranking, not the probes, limits it
PQ_M = 64  # sub-quantizers of 8 bits: 64 bytes per vector
PQ_REFINE = 32  # re-rank 32x k PQ candidates with the exact vectors: recall 0.41 (codes only), 0.73 (4x), 0.96 (16x), 0.99
RERANK_IN_MEMORY_MAX = 1 << 30  # bytes of float32 re-ranking vectors kept in RAM; more: the memory-mapped float16 file
BUILD_ROWS = 100_000  # vectors converted to float32 and added to IVF-PQ at a time (200 MB at 512 dimensions)
PQ_REFINE_FROM_2M = 64  # past 2M vectors: 32x k re-ranked gave recall@10 0.947 at 10M, 64x 0.995 (48x 0.98), 4.0 ms
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


def index_params(kind: str, count: int, d: int = 512) -> dict:
    """The parameters ``build_search_index`` and ``tune_for_search`` use for ``kind`` at ``count`` vectors:
    what a manifest records next to the index type (the query-time ones are not stored in the FAISS file)."""
    if kind == "flat":
        return {}
    if kind == "hnsw":
        return {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION, "efSearch": HNSW_EF_SEARCH}
    if kind == "ivfpq":
        nlist = max(16, min(65536, int(2 * math.sqrt(count))))
        m = next(m for m in (PQ_M, 32, 16, 8, 4, 2, 1) if d % m == 0 and m <= d)
        refine = "flat" if count * d * 4 <= RERANK_IN_MEMORY_MAX else "float16"
        k_factor = PQ_REFINE if count <= 2_000_000 or refine != "float16" else PQ_REFINE_FROM_2M
        return {"nlist": nlist, "pq_m": m, "pq_bits": 8, "nprobe": IVF_NPROBE, "refine": refine, "k_factor": k_factor}
    raise ValueError(f"unknown index type {kind!r}")


class GpuUnavailableError(RuntimeError):
    """GPU training was required (``gpu=True``) but this FAISS build sees no GPU."""


def gpu_count() -> int:
    """GPUs this FAISS build can use: 0 for faiss-cpu (whose builds need not have ``get_num_gpus`` at all)."""
    get_num_gpus = getattr(faiss, "get_num_gpus", None)
    return int(get_num_gpus()) if get_num_gpus is not None else 0


def gpu_clustering_index(d: int, gpu: bool | None = None) -> faiss.Index | None:
    """The index IVF training's k-means assigns vectors with: a flat inner-product index on every GPU, or
    ``None`` to leave it to the IVF's own CPU quantizer.

    ``gpu``: ``None`` uses the GPUs when FAISS has any, ``False`` never, ``True`` requires them. Each k-means
    iteration searches every training vector against every centroid: nearly all of k-means' time, and the
    part a GPU does well. Inner product like the CPU quantizer, so it is the same k-means up to float rounding
    on near ties; FAISS copies the centroids into the CPU quantizer, so the index stays a CPU one."""
    if gpu is False:
        return None
    if gpu_count() == 0:
        if gpu:
            raise GpuUnavailableError("GPU training was asked for, but FAISS sees no GPU (is faiss-gpu installed?)")
        return None
    return faiss.index_cpu_to_all_gpus(faiss.IndexFlatIP(d))


def train_ivf(ivf: faiss.IndexIVF, sample: np.ndarray, gpu: bool | None = None) -> None:
    """Train ``ivf`` on ``sample``, its coarse k-means on the GPUs where ``gpu_clustering_index`` gives one."""
    clustering = gpu_clustering_index(ivf.d, gpu)
    started = time.perf_counter()
    if clustering is None:
        ivf.train(sample)
    else:
        ivf.clustering_index = clustering
        clustering.thisown = True  # SWIG's setter disowns it, yet the IVF never frees it: ours to free
        try:
            ivf.train(sample)
        finally:
            ivf.clustering_index = None  # it would dangle once `clustering` is freed
    device = "the CPU" if clustering is None else f"{gpu_count()} GPU(s)"
    log.info(
        "IVF-PQ trained (coarse k-means on %s): %d lists, %d vectors, %.1f s",
        device,
        ivf.nlist,
        len(sample),
        time.perf_counter() - started,
    )


def build_search_index(
    store: faiss.IndexIDMap2, kind: str, seed: int = 0, gpu: bool | None = None, folder: Path | None = None, **overrides
) -> faiss.Index:
    """An approximate index over every vector of ``store`` (same ids); ``flat`` returns the store itself.

    ``overrides`` replace entries of ``index_params`` (the benchmark's sweeps); ``refine`` may be ``flat``
    (exact re-ranking from float32 vectors in the index, ~4 bytes/dim more), ``float16`` (the codes only: the
    re-ranking vectors are written to ``folder``/rerank.f16.npy, see :func:`build_ivfpq_codes`), ``sq8`` (~1
    byte/dim more) or ``none``. ``gpu`` is ``gpu_clustering_index``'s: IVF-PQ training on the GPUs (auto by
    default); the index returned is a CPU one."""
    if kind == "flat":
        return store
    n, d = store.ntotal, store.d
    params = {**index_params(kind, n, d), **overrides}
    if kind == "ivfpq" and params["refine"] == "float16":
        if folder is None:
            raise ValueError("refine 'float16' writes its re-ranking store beside the index: pass the folder")
        ids = faiss.vector_to_array(store.id_map).astype(np.int64)
        vectors = flat_vectors(store)
        write_rerank_store(Path(folder) / RERANK, vectors)
        return build_ivfpq_codes(vectors, ids, params, seed, gpu)
    ids, vectors = stored_vectors(store)
    if kind == "hnsw":
        inner = faiss.IndexHNSWFlat(d, params["M"], faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = params["efConstruction"]
        inner.hnsw.efSearch = params["efSearch"]
    elif kind == "ivfpq":
        ivf = _ivfpq(d, params)
        sample = vectors[np.random.default_rng(seed).permutation(n)[: _sample_size(n, params)]]
        train_ivf(ivf, sample, gpu)  # trained on the library's own vectors
        if params["refine"] == "flat":
            inner = faiss.IndexRefineFlat(ivf)
        elif params["refine"] == "sq8":
            sq8 = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
            inner = faiss.IndexRefine(ivf, sq8)
            sq8.train(sample)
            inner.is_trained = True
        elif params["refine"] == "none":
            inner = ivf
        else:
            raise ValueError(f"unknown refine {params['refine']!r}: flat, float16, sq8 or none")
        if params["refine"] != "none":
            inner.k_factor = params["k_factor"]
    else:
        raise ValueError(f"unknown index type {kind!r}")
    index = faiss.IndexIDMap2(inner)
    index.add_with_ids(vectors, ids)
    return index


def build_ivfpq_codes(vectors, ids: np.ndarray, params: dict, seed: int = 0, gpu: bool | None = None) -> faiss.IndexIDMap:
    """IVF-PQ codes under an id map (no vectors: they are re-ranked from a float16 store, row for row as added) over
    ``vectors``, any [n, d] array (a float16 memory-map too): trained on a sample of them, then added
    :data:`BUILD_ROWS` at a time, so no float32 copy of them all is ever made."""
    n, d = vectors.shape
    ivf = _ivfpq(d, params)
    rows = np.sort(np.random.default_rng(seed).choice(n, _sample_size(n, params), replace=False))
    train_ivf(ivf, np.asarray(vectors[rows], dtype=np.float32), gpu)
    index = faiss.IndexIDMap(ivf)
    started = time.perf_counter()
    for start in range(0, n, BUILD_ROWS):
        chunk = np.ascontiguousarray(vectors[start : start + BUILD_ROWS], dtype=np.float32)
        index.add_with_ids(chunk, np.ascontiguousarray(ids[start : start + BUILD_ROWS], dtype=np.int64))
    log.info("IVF-PQ codes added: %d vectors, %.1f s", n, time.perf_counter() - started)
    return index


def flat_vectors(store: faiss.IndexIDMap2) -> np.ndarray:
    """A view [n, d] of a canonical store's float32 vectors in FAISS's own memory (valid while ``store`` lives)."""
    flat = faiss.downcast_index(store.index)
    return faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d)


def _ivfpq(d: int, params: dict) -> faiss.IndexIVFPQ:
    quantizer = faiss.IndexFlatIP(d)
    ivf = faiss.IndexIVFPQ(quantizer, d, params["nlist"], params["pq_m"], params["pq_bits"], faiss.METRIC_INNER_PRODUCT)
    ivf.nprobe = params["nprobe"]
    return ivf


def _sample_size(n: int, params: dict) -> int:
    return min(n, 200_000, max(40 * params["nlist"], 20_000))


def tune_for_search(index: faiss.Index) -> faiss.Index:
    """Set the query-time knobs that the benchmark chose (they are not stored in the file)."""
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap) else index
    if isinstance(inner, faiss.IndexHNSWFlat):
        inner.hnsw.efSearch = HNSW_EF_SEARCH
    if isinstance(inner, faiss.IndexRefine):  # IndexRefineFlat is one
        inner.k_factor = PQ_REFINE
        base = faiss.downcast_index(inner.base_index)
        if isinstance(base, faiss.IndexIVF):
            base.nprobe = IVF_NPROBE
    elif isinstance(inner, faiss.IndexIVF):
        inner.nprobe = IVF_NPROBE
    return index


def set_search_threads(threads: int) -> None:
    """FAISS's OpenMP threads for searches made from the calling thread (and threads started after it).

    On a small machine that also serves HTTP, two OpenMP threads on two busy cores wait for each other at
    every barrier: one thread per search is steadier (benchmarks/bench_query.py)."""
    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    faiss.omp_set_num_threads(threads)
