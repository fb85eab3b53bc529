"""ANN choice: Flat vs HNSW vs IVF-PQ (with exact re-ranking) on clustered 512-d unit vectors.

    python benchmarks/bench_ann.py [--sizes 10000,100000,1000000] [--dim 512] [--queries 200]

For each size: build time, memory per vector (serialised index), p50 single-query latency and recall@10
against Flat, built with the same code the indexer uses (indexer/ann.py; IVF-PQ trained on the vectors
themselves). A 10M row is projected from the largest measured size (memory linear; Flat latency linear;
HNSW ~log n; IVF-PQ ~sqrt n probes). Ends with one line of JSON.
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

from indexer.ann import build_search_index, tune_for_search  # noqa: E402


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    rows = []
    for n in map(int, args.sizes.split(",")):
        vectors = clustered(n, args.dim, clusters=max(50, n // 1000), seed=0)
        queries = vectors[np.random.default_rng(1).choice(n, args.queries, replace=False)]
        queries = queries + 0.1 * np.random.default_rng(2).normal(size=queries.shape).astype(np.float32)
        store = faiss.IndexIDMap2(faiss.IndexFlatIP(args.dim))
        store.add_with_ids(vectors, np.arange(n, dtype=np.int64))
        del vectors
        flat_ms, truth = measure(store, queries)
        for kind in ("flat", "hnsw", "ivfpq"):
            started = time.perf_counter()
            index = tune_for_search(build_search_index(store, kind))
            build_s = time.perf_counter() - started
            bytes_per_vector = faiss.serialize_index(index).nbytes / n
            p50, found = measure(index, queries) if kind != "flat" else (flat_ms, truth)
            recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)]))
            rows.append(
                {
                    "n": n,
                    "index": kind,
                    "build_s": round(build_s, 2),
                    "bytes_per_vector": round(bytes_per_vector, 1),
                    "p50_ms": round(p50, 3),
                    "recall_at_10": round(recall, 4),
                    "latency_vs_flat": round(p50 / flat_ms, 3),
                }
            )
            print(f"measured n={n} {kind}: {rows[-1]}", file=sys.stderr, flush=True)
    largest = max(r["n"] for r in rows)
    scale = 10_000_000 / largest
    growth = {"flat": scale, "hnsw": math.log(10_000_000) / math.log(largest), "ivfpq": math.sqrt(scale)}
    for r in [r for r in rows if r["n"] == largest]:
        rows.append(
            {
                **r,
                "n": 10_000_000,
                "build_s": None,
                "p50_ms": round(r["p50_ms"] * growth[r["index"]], 2),
                "latency_vs_flat": None,
                "recall_at_10": None,
                "projected": True,
            }
        )
    print(f"\n{'n':>10} {'index':<6} {'build s':>8} {'bytes/vec':>10} {'p50 ms':>8} {'recall@10':>10} {'p50/flat':>9}")
    for r in rows:

        def show(v, fmt):
            return format(v, fmt) if v is not None else "-"

        tag = " (projected)" if r.get("projected") else ""
        print(
            f"{r['n']:>10} {r['index']:<6} {show(r['build_s'], '>8.2f')} {r['bytes_per_vector']:>10.1f} "
            f"{r['p50_ms']:>8.3f} {show(r['recall_at_10'], '>10.3f')} {show(r['latency_vs_flat'], '>9.3f')}{tag}"
        )
    print(json.dumps({"benchmark": "ann_choice", "dim": args.dim, "rows": rows}))


if __name__ == "__main__":
    main()
