"""ANN choice: Flat vs HNSW vs IVF-PQ on clustered 512-d unit vectors, with query-time sweeps.

    python benchmarks/bench_ann.py [--sizes 10000,100000,1000000] [--dim 512] [--queries 200]
        [--ef 128,256,512] [--nprobe 32,64] [--kfactor 4,16] [--refine flat,none] [--query-noise 0.1]

For each size: build time, memory per vector (the serialised search index: what the server loads), p50
single-query latency (``--search-threads``, 1 like the server on 2 cores) and recall@10 against Flat, built with
the same code the indexer uses (indexer/index_dir/ann.py; IVF-PQ trained on the vectors themselves). HNSW is built once
and searched at every ``--ef``; IVF-PQ is built once per ``--refine`` (flat: exact re-ranking store, 4 bytes/dim;
sq8: 1 byte/dim; none: codes only) and searched at every ``--nprobe`` x ``--kfactor`` (``--kfactor 1`` gives
the codes-only recall and memory without another build). Rows whose parameters are
indexer/index_dir/ann.py's defaults are marked ``*``. A 10M row is projected from the largest measured size (memory
linear; Flat latency linear; HNSW ~log n; IVF-PQ ~sqrt n, as nlist grows with sqrt n). Ends with one line of JSON.

The data are unit vectors around n/1000 random centres with isotropic noise, and queries are data vectors plus
isotropic noise of ``--query-noise`` per dimension (0.1: the query keeps cos ~0.4 with its source vector). Both
noises are full-rank, so within a cluster the top-10 scores are nearly tied: a harder problem than real CLIP
embeddings, whose variance lies in far fewer dimensions; recall here is a lower bound.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indexer.index_dir import ann  # noqa: E402
from indexer.index_dir.ann import build_search_index, tune_for_search  # noqa: E402


def clustered(n: int, dim: int, clusters: int, seed: int) -> np.ndarray:
    """Unit vectors around ``clusters`` centres: closer to real CLIP embeddings than uniform noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        out[start:stop] = centres[rng.integers(0, clusters, stop - start)] + 0.6 * rng.normal(size=(stop - start, dim))
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def measure(index, queries, k=10):
    latencies = []
    ids = []
    for q in queries:
        started = time.perf_counter()
        _, found = index.search(q[None], k)
        latencies.append(time.perf_counter() - started)
        ids.append(found[0])
    return float(np.median(latencies) * 1000), np.array(ids)


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
    return parser.parse_args()


def measured_row(args, n, kind, params, build_s, nbytes, p50, found, truth, flat_ms) -> dict:
    """One row of the table (printed to stderr as it is measured)."""
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
        "recall_at_10": round(recall, 4),
        "latency_vs_flat": round(p50 / flat_ms, 3),
    }
    print(f"measured {row}", file=sys.stderr, flush=True)
    return row


def measure_with_threads(args, index, queries):
    """``measure`` with ``--search-threads`` (builds use 2)."""
    faiss.omp_set_num_threads(args.search_threads)
    try:
        return measure(index, queries)
    finally:
        faiss.omp_set_num_threads(2)


def bench_size(args, n: int, kinds: list[str]) -> list[dict]:
    """Every row for ``n`` vectors: Flat (the truth), then each search index at each of its query-time settings."""
    vectors = clustered(n, args.dim, clusters=max(50, n // 1000), seed=0)
    queries = vectors[np.random.default_rng(1).choice(n, args.queries, replace=False)]
    queries = queries + args.query_noise * np.random.default_rng(2).normal(size=queries.shape).astype(np.float32)
    store = faiss.IndexIDMap2(faiss.IndexFlatIP(args.dim))
    store.add_with_ids(vectors, np.arange(n, dtype=np.int64))
    del vectors
    flat_ms, truth = measure_with_threads(args, store, queries)
    scores, _ = store.search(queries, 100)
    print(
        f"n={n}: mean true score @1 {scores[:, 0].mean():.3f} @10 {scores[:, 9].mean():.3f} "
        f"@11 {scores[:, 10].mean():.3f} @100 {scores[:, 99].mean():.3f}",
        file=sys.stderr,
        flush=True,
    )
    rows = []
    if "flat" in kinds:
        rows.append(measured_row(args, n, "flat", {}, 0.0, index_bytes(store), flat_ms, truth, truth, flat_ms))
    builds = []
    if "hnsw" in kinds:
        builds.append(("hnsw", {"M": args.hnsw_m, "efConstruction": args.ef_construction}))
    if "ivfpq" in kinds and n >= ann.IVFPQ_MIN:
        builds += [("ivfpq", {"pq_m": args.pq_m, "refine": refine}) for refine in args.refine.split(",")]
    for kind, built_with in builds:
        rows += bench_build(args, store, queries, truth, flat_ms, kind, built_with)
    return rows


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


def bench_build(args, store, queries, truth, flat_ms, kind: str, built_with: dict) -> list[dict]:
    """Build one search index from ``store`` (as the indexer does) and measure it at every query-time setting."""
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
        p50, found = measure_with_threads(args, index, queries)
        params, size = {**built_with, **setting}, nbytes
        if base_bytes is not None and setting.get("k_factor") == 1:
            params, size = {**params, "refine": "none (k_factor 1)"}, base_bytes
        rows.append(measured_row(args, n, kind, params, build_s, size, p50, found, truth, flat_ms))
    return rows


def projected_10m(rows: list[dict]) -> list[dict]:
    """Rows for 10M vectors, projected from the largest measured size (see the module docstring)."""
    largest = max(r["n"] for r in rows)
    scale = 10_000_000 / largest
    growth = {"flat": scale, "hnsw": math.log(10_000_000) / math.log(largest), "ivfpq": math.sqrt(scale)}
    flat_10m = next((r["p50_ms"] * scale for r in rows if r["n"] == largest and r["index"] == "flat"), None)
    projected = []
    for r in [r for r in rows if r["n"] == largest]:
        p50 = r["p50_ms"] * growth[r["index"]]
        projected.append(
            {
                **r,
                "n": 10_000_000,
                "build_s": None,
                "p50_ms": round(p50, 2),
                "latency_vs_flat": round(p50 / flat_10m, 3) if flat_10m else None,
                "recall_at_10": None,
                "projected": True,
            }
        )
    return projected


def print_table(rows: list[dict]) -> None:
    def show(v, fmt):
        return format(v, fmt) if v is not None else "-"

    print(f"\n{'n':>10} {'index':<6} {'build s':>8} {'bytes/vec':>10} {'p50 ms':>8} {'recall@10':>10} {'p50/flat':>9}  params")
    for r in rows:
        tag = " (projected)" if r.get("projected") else ""
        params = " ".join(f"{k}={v}" for k, v in r["params"].items()) + (" *" if r["default"] else "")
        print(
            f"{r['n']:>10} {r['index']:<6} {show(r['build_s'], '>8.2f')} {r['bytes_per_vector']:>10.1f} "
            f"{r['p50_ms']:>8.3f} {show(r['recall_at_10'], '>10.3f')} {show(r['latency_vs_flat'], '>9.3f')}  {params}{tag}"
        )


def main() -> None:
    args = parse_args()
    kinds = args.kinds.split(",")
    faiss.omp_set_num_threads(2)
    rows = []
    for n in map(int, args.sizes.split(",")):
        rows += bench_size(args, n, kinds)
    rows += projected_10m(rows)
    print_table(rows)
    print(json.dumps({"benchmark": "ann_choice", "dim": args.dim, "query_noise": args.query_noise, "rows": rows}))


if __name__ == "__main__":
    main()
