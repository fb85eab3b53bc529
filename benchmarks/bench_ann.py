"""ANN choice: Flat vs HNSW vs IVF-PQ on clustered 512-d unit vectors, with query-time sweeps.

    python benchmarks/bench_ann.py [--sizes 10000,100000,1000000] [--dim 512] [--queries 200]
        [--ef 128,256,512] [--nprobe 32,64] [--kfactor 4,16] [--refine flat,none] [--query-noise 0.1]
        [--filters 0.5,0.05,0.01,0.003,0.001] [--big 1000000,10000000 [--work-dir /tmp/vidseek-bench-ann]]

The default (10k and 100k, in memory) takes minutes. ``--big`` adds out-of-core rows (benchmarks/ann_disk.py):
IVF-PQ as ann.py builds it past RERANK_IN_MEMORY_MAX, generated, built and served from disk with its float16
re-ranking store memory-mapped, the serving process's memory measured; the vectors are never all in RAM (the bench
stays near 2 GB), so a 24 GB machine measures 10M (``--sizes '' --big 1000000,10000000``: about 30 minutes on 2
shared cores, 12 GB of disk under ``--work-dir``, left there for a look). docs/scale.md's 1M and 10M rows are one.

For each size: build time, memory per vector (the serialised search index: what the server loads), p50
(and p99) single-query latency (``--search-threads``, 1 like the server on 2 cores) and recall@10 against Flat, built with
the same code the indexer uses (indexer/index_dir/ann.py; IVF-PQ trained on the vectors themselves). HNSW is built once
and searched at every ``--ef``; IVF-PQ is built once per ``--refine`` (flat: exact re-ranking store, 4 bytes/dim;
sq8: 1 byte/dim; none: codes only) and searched at every ``--nprobe`` x ``--kfactor`` (``--kfactor 1`` gives
the codes-only recall and memory without another build). Rows whose parameters are
indexer/index_dir/ann.py's defaults are marked ``*``. Without ``--big``, a 10M row is projected from the largest measured
size (memory linear; Flat latency linear; HNSW ~log n; IVF-PQ ~sqrt n, as nlist grows with sqrt n). Ends with one line
of JSON.

Filtered rows (``--filters``: the parts of the segments filters keep; empty: none): each built index at ann.py's
query-time defaults, searched as the server does (``VectorSearch.search_batch`` as IndexReader opens it, a batch of
one, ``--search-threads`` for FAISS and torch like the query worker), unfiltered and under each filter, interleaved
query by query so that all see the same load: p50, it over the unfiltered p50, a new filter's first query (which
maps its ids to rows) and recall@10 against the exact top 10 among the allowed vectors. Random metadata: segment
i is of video i // 100 (as benchmarks/query_load.py's synthetic index), each video has a codec (h264 70 %, hevc
20 %, vp9 8 %, av1 2 %) and a date (uniform over ten years); a filter keeps the rarest codec holding at least the
part asked, on or after the date that brings the kept videos to that part: runs of whole videos' ids, sorted and
read-only as IndexReader.segment_ids gives them. ``--big`` sizes get the same filters, searched warm in the serving
process (index ``ivf-mm``: IVF-PQ re-ranked from the memory-mapped float16 store; benchmarks/ann_disk.py).

The data are unit vectors around n/1000 random centres with isotropic noise, and queries are data vectors plus
isotropic noise of ``--query-noise`` per dimension (0.1: the query keeps cos ~0.4 with its source vector). Both
noises are full-rank, so within a cluster the top-10 scores are nearly tied: a harder problem than real CLIP
embeddings, whose variance lies in far fewer dimensions; recall here is a lower bound.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ann_disk import bench_disk, clustered_chunks  # noqa: E402
from benchmarks.ann_tables import (  # noqa: E402
    filtered_row,
    print_disk_table,
    print_filtered,
    print_table,
    projected_10m,
    timed_search,
)
from indexer.index_dir import ann  # noqa: E402
from indexer.index_dir.ann import build_search_index, set_search_threads, tune_for_search  # noqa: E402
from indexer.index_dir.flat_search import VectorSearch  # noqa: E402
from models.encoder import native_bfloat16, set_intra_op_threads  # noqa: E402

SEGMENTS_PER_VIDEO = 100
CODECS = {"h264": 0.7, "hevc": 0.2, "vp9": 0.08, "av1": 0.02}
FIRST_DAY, DAYS = np.datetime64("2015-01-01"), 3653


def clustered(n: int, dim: int, clusters: int, seed: int) -> np.ndarray:
    """Unit vectors around ``clusters`` centres: closer to real CLIP embeddings than uniform noise."""
    return np.concatenate(list(clustered_chunks(n, dim, clusters, seed)))


def measure(index, queries, k=10):
    latencies = []
    ids = []
    for q in queries:
        started = time.perf_counter()
        _, found = index.search(q[None], k)
        latencies.append(time.perf_counter() - started)
        ids.append(found[0])
    return float(np.median(latencies) * 1000), np.array(ids), float(np.percentile(latencies, 99) * 1000)


def index_bytes(index) -> int:
    """Size of the serialised index, counted as it is written (no second copy in memory)."""
    total = 0

    def count(chunk):
        nonlocal total
        total += len(chunk)
        return len(chunk)

    faiss.write_index(index, faiss.PyCallbackIOWriter(count))
    return total


def ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--query-noise", type=float, default=0.1)
    parser.add_argument("--kinds", default="flat,hnsw,ivfpq")
    parser.add_argument("--ef", default=str(ann.HNSW_EF_SEARCH), help="HNSW efSearch values to search with")
    parser.add_argument("--hnsw-m", type=int, default=ann.HNSW_M)
    parser.add_argument("--ef-construction", type=int, default=ann.HNSW_EF_CONSTRUCTION)
    parser.add_argument("--nprobe", default=str(ann.IVF_NPROBE))
    parser.add_argument("--kfactor", default=str(ann.PQ_REFINE))
    parser.add_argument("--refine", default="flat", help="IVF-PQ re-ranking store(s): flat, sq8, none")
    parser.add_argument("--pq-m", type=int, default=ann.PQ_M)
    parser.add_argument("--search-threads", type=int, default=1)
    parser.add_argument("--filters", default="0.5,0.05,0.01,0.003,0.001", help="parts of the segments each filter keeps")
    parser.add_argument("--big", default="", help="sizes measured out of core (IVF-PQ, float16 store on disk)")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/vidseek-bench-ann"), help="where --big builds")
    return parser.parse_args()


def measured_row(args, n, kind, params, build_s, nbytes, timed, truth, flat_ms) -> dict:
    """One row of the table (printed to stderr as it is measured); ``timed``: measure's (p50, found, p99)."""
    p50, found, p99 = timed
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)]))
    default = ann.index_params(kind, n, args.dim)
    row = {
        "n": n,
        "index": kind,
        "params": params,
        "default": all(default.get(k) == v for k, v in params.items()),
        "build_s": round(build_s, 2),
        "bytes_per_vector": round(nbytes / n, 1),
        "p50_ms": round(p50, 3),
        "p99_ms": round(p99, 3),
        "recall_at_10": round(recall, 4),
        "latency_vs_flat": round(p50 / flat_ms, 3),
    }
    print(f"measured {row}", file=sys.stderr, flush=True)
    return row


@contextmanager
def search_threads(args) -> Iterator[None]:
    """``--search-threads`` for FAISS and torch, as the server's query worker sets both (builds use 2)."""
    set_search_threads(args.search_threads)
    set_intra_op_threads(args.search_threads)
    try:
        yield
    finally:
        set_search_threads(2)
        set_intra_op_threads(2)


@dataclass
class Filters:
    """One size's filters: what each keeps, its allowed ids (None first: none) and each query's exact top 10 of them."""

    names: list[str]
    allowed: list[np.ndarray | None]
    truth: list[np.ndarray]


def facet_filters(n: int, fractions: list[float], seed: int = 3) -> tuple[list[str], list[np.ndarray]]:
    """For each fraction, a filter on random video facets keeping about that part of ``n`` segments (see the module
    docstring): its description and allowed segment ids."""
    rng = np.random.default_rng(seed)
    videos = -(-n // SEGMENTS_PER_VIDEO)
    codec = rng.choice(len(CODECS), videos, p=list(CODECS.values()))
    day = rng.integers(0, DAYS, videos)
    shares = np.bincount(codec, minlength=len(CODECS)) / videos
    names, allowed = [], []
    for fraction in fractions:
        held = [c for c in range(len(CODECS)) if shares[c] >= fraction]
        chosen = min(held, key=lambda c: shares[c]) if held else None  # None: any codec
        of = np.ones(videos, bool) if chosen is None else codec == chosen
        want = min(int(of.sum()), max(1, round(fraction * videos)))
        since = np.sort(day[of])[::-1][want - 1]
        kept = np.flatnonzero(of & (day >= since))
        ids = (kept[:, None] * SEGMENTS_PER_VIDEO + np.arange(SEGMENTS_PER_VIDEO)).ravel()
        ids = ids[ids < n].astype(np.int64)
        ids.flags.writeable = False
        names.append(f"codec={'any' if chosen is None else list(CODECS)[chosen]} after={FIRST_DAY + since}")
        allowed.append(ids)
    return names, allowed


def exact_top(store, queries: np.ndarray, allowed: list[np.ndarray | None], k: int = 10) -> list[np.ndarray]:
    """Each query's exact top ``k`` ids among each allowed set (None: all): a float32 product with every stored
    vector, then the top of the allowed columns (the store's ids are its row numbers here)."""
    flat = faiss.downcast_index(store.index)
    vectors = torch.from_numpy(faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d))
    columns = [None if ids is None else torch.from_numpy(ids.copy()) for ids in allowed]
    truth: list[list[np.ndarray]] = [[] for _ in allowed]
    for start in range(0, len(queries), 16):
        scores = torch.from_numpy(queries[start : start + 16]) @ vectors.T
        for found, ids, cols in zip(truth, allowed, columns):
            picked = scores if cols is None else scores[:, cols]
            top = torch.topk(picked, min(k, picked.shape[1]), dim=1).indices.numpy()
            found.append(top if ids is None else ids[top])
    return [np.concatenate(found) for found in truth]


def filtered_rows(args, index, kind: str, params: dict, queries: np.ndarray, filters: Filters) -> list[dict]:
    """``index`` searched as the server does, unfiltered and under each filter (see the module docstring)."""
    search = VectorSearch(index, bf16_scan=native_bfloat16())  # as IndexReader opens it
    with search_threads(args):
        timed_search(search, queries[0], None)  # made on first use: a flat store's bfloat16 copy
        _ = search.positions  # ids to rows, made once per index on its first filtered search
        first = [None] + [timed_search(search, queries[0], allowed)[0] for allowed in filters.allowed[1:]]
        latencies: list[list[float]] = [[] for _ in filters.allowed]
        found: list[list[list[int]]] = [[] for _ in filters.allowed]
        for query in queries:
            for i, allowed in enumerate(filters.allowed):
                ms, ids = timed_search(search, query, allowed)
                latencies[i].append(ms)
                found[i].append(ids)
    p50s = [float(np.median(ms)) for ms in latencies]
    rows = []
    for i, allowed in enumerate(filters.allowed):
        recall = float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found[i], filters.truth[i])]))
        kept = index.ntotal if allowed is None else len(allowed)
        row = filtered_row(index.ntotal, kind, params, filters.names[i], kept, p50s[i], p50s[0], first[i], recall)
        print(f"filtered {row}", file=sys.stderr, flush=True)
        rows.append(row)
    return rows


def bench_size(args, n: int, kinds: list[str]) -> tuple[list[dict], list[dict]]:
    """Every row for ``n`` vectors: Flat (the truth), then each search index at each of its query-time settings;
    and the filtered rows."""
    vectors = clustered(n, args.dim, clusters=max(50, n // 1000), seed=0)
    queries = vectors[np.random.default_rng(1).choice(n, args.queries, replace=False)]
    queries = queries + args.query_noise * np.random.default_rng(2).normal(size=queries.shape).astype(np.float32)
    store = faiss.IndexIDMap2(faiss.IndexFlatIP(args.dim))
    store.add_with_ids(vectors, np.arange(n, dtype=np.int64))
    del vectors
    with search_threads(args):
        flat_timed = measure(store, queries)
    flat_ms, truth = flat_timed[0], flat_timed[1]
    scores, _ = store.search(queries, 100)
    print(
        f"n={n}: mean true score @1 {scores[:, 0].mean():.3f} @10 {scores[:, 9].mean():.3f} "
        f"@11 {scores[:, 10].mean():.3f} @100 {scores[:, 99].mean():.3f}",
        file=sys.stderr,
        flush=True,
    )
    filters = None
    if floats(args.filters):
        names, allowed = facet_filters(n, floats(args.filters))
        filters = Filters(["none", *names], [None, *allowed], exact_top(store, queries, [None, *allowed]))
    rows, filtered = [], []
    if "flat" in kinds:
        rows.append(measured_row(args, n, "flat", {}, 0.0, index_bytes(store), flat_timed, truth, flat_ms))
        if filters is not None:
            filtered += filtered_rows(args, store, "flat", {}, queries, filters)
    builds = []
    if "hnsw" in kinds:
        builds.append(("hnsw", {"M": args.hnsw_m, "efConstruction": args.ef_construction}))
    if "ivfpq" in kinds and n >= ann.IVFPQ_MIN:
        builds += [("ivfpq", {"pq_m": args.pq_m, "refine": refine}) for refine in args.refine.split(",")]
    for kind, built_with in builds:
        built_rows, built_filtered = bench_build(args, store, queries, truth, flat_ms, kind, built_with, filters)
        rows, filtered = rows + built_rows, filtered + built_filtered
    return rows, filtered


def search_settings(args, kind: str, built_with: dict) -> list[dict]:
    """The query-time parameters to sweep for one built index."""
    if kind == "hnsw":
        return [{"efSearch": ef} for ef in ints(args.ef)]
    if built_with["refine"] == "none":
        return [{"nprobe": p} for p in ints(args.nprobe)]
    return [{"nprobe": p, "k_factor": k} for p in ints(args.nprobe) for k in ints(args.kfactor)]


def apply_setting(inner, kind: str, setting: dict) -> None:
    if kind == "hnsw":
        inner.hnsw.efSearch = setting["efSearch"]
        return
    ivf = faiss.downcast_index(inner.base_index) if isinstance(inner, faiss.IndexRefine) else inner
    ivf.nprobe = setting["nprobe"]
    if "k_factor" in setting:
        inner.k_factor = setting["k_factor"]


def bench_build(args, store, queries, truth, flat_ms, kind: str, built_with: dict, filters: Filters | None):
    """Build one search index from ``store`` (as the indexer does) and measure it at every query-time setting; and
    filtered (when ``filters``) at ann.py's query-time defaults. Returns (rows, filtered rows)."""
    n = store.ntotal
    started = time.perf_counter()
    index = tune_for_search(build_search_index(store, kind, **built_with))
    build_s = time.perf_counter() - started
    nbytes = index_bytes(index)
    inner = faiss.downcast_index(index.index)
    base_bytes = None
    if isinstance(inner, faiss.IndexRefine):  # k_factor 1 re-ranks only PQ's own top k: the codes-only recall
        base_bytes = index_bytes(faiss.downcast_index(inner.base_index)) + 8 * n  # + the id map
    rows = []
    for setting in search_settings(args, kind, built_with):
        apply_setting(inner, kind, setting)
        with search_threads(args):
            timed = measure(index, queries)
        params, size = {**built_with, **setting}, nbytes
        if base_bytes is not None and setting.get("k_factor") == 1:
            params, size = {**params, "refine": "none (k_factor 1)"}, base_bytes
        rows.append(measured_row(args, n, kind, params, build_s, size, timed, truth, flat_ms))
    if filters is None:
        return rows, []
    default = ann.index_params(kind, n, args.dim)
    setting = {k: default[k] for k in search_settings(args, kind, built_with)[0]}
    apply_setting(inner, kind, setting)
    return rows, filtered_rows(args, index, kind, {**built_with, **setting}, queries, filters)


def main() -> None:
    args = parse_args()
    kinds = args.kinds.split(",")
    set_search_threads(2)
    rows, filtered = [], []
    for n in ints(args.sizes):
        size_rows, size_filtered = bench_size(args, n, kinds)
        rows, filtered = rows + size_rows, filtered + size_filtered
    big = [bench_disk(args, n, args.work_dir / f"n{n}", facet_filters(n, floats(args.filters))) for n in ints(args.big)]
    filtered += [row for disk in big for row in disk.pop("filtered")]
    if rows and not big:
        rows += projected_10m(rows)
    if rows:
        print_table(rows)
    if filtered:
        print_filtered(filtered)
    if big:
        print_disk_table(big)
    result = {"benchmark": "ann_choice", "dim": args.dim, "query_noise": args.query_noise, "rows": rows, "filtered": filtered}
    print(json.dumps({**result, "out_of_core": big}))


if __name__ == "__main__":
    main()
