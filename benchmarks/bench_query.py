"""Query latency of GET /search end to end: a real `vidseek serve` on loopback, closed-loop clients.

    python benchmarks/bench_query.py [--sizes 10000,100000] [--clients 1,8] [--requests 200] [--model ViT-B-32]

Builds an index dir of synthetic but clustered segment vectors (with catalog rows) per size, serves it
with the real text encoder (random weights: latency does not depend on their values), and reports
p50/p95/p99 and throughput for each client count. Ends with one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.bench_ann import clustered  # noqa: E402
from indexer.build import BuildOptions, manifest_for  # noqa: E402
from indexer.decode import VideoInfo  # noqa: E402
from indexer.segment import plan_segments  # noqa: E402
from indexer.store import IndexWriter  # noqa: E402
from models import load_encoder  # noqa: E402
from tests.liveserver import running_server  # noqa: E402

WORDS = "a man woman dog cat car street beach dancing running cooking red blue green night snow city river".split()


def synthetic_index(index_dir: Path, encoder, segments: int, per_video: int = 100) -> None:
    options = BuildOptions(Path("/synthetic"), index_dir)
    writer = IndexWriter(index_dir, manifest_for(encoder, options), rebuild=True)
    vectors = clustered(segments, encoder.dim, clusters=max(50, segments // 1000), seed=0)
    for v, first in enumerate(range(0, segments, per_video)):
        count = min(per_video, segments - first)
        info = VideoInfo(count * 10.0, 25.0, 640, 360, "h264")
        writer.add_video(
            f"/synthetic/video{v:06d}.mp4",
            f"fp{v}",
            1,
            info,
            plan_segments(count * 10.0, 10.0),
            vectors[first : first + count],
            [],
        )
    writer.publish()


def run_clients(base: str, clients: int, requests: int, seed: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    lock = threading.Lock()
    per_client = max(1, requests // clients)

    def loop(i: int):
        rng = np.random.default_rng(seed + i)
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(per_client):
                q = " ".join(rng.choice(WORDS, size=int(rng.integers(2, 7))))
                started = time.perf_counter()
                r = client.get("/search", params={"q": q, "k": 8})
                elapsed = time.perf_counter() - started
                r.raise_for_status()
                with lock:
                    latencies.append(elapsed)

    started = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--clients", default="1,8")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--model", default="ViT-B-32")
    args = parser.parse_args()
    encoder = load_encoder(args.model, "none", "cpu")
    rows = []
    for size in map(int, args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            index_dir = Path(tmp) / "index"
            synthetic_index(index_dir, encoder, size)
            env = {**os.environ, "HF_HUB_OFFLINE": "1"}
            with running_server(index_dir, env) as (base, _):
                run_clients(base, 2, 20, seed=99)  # warm-up
                for clients in map(int, args.clients.split(",")):
                    latencies, seconds = run_clients(base, clients, args.requests, seed=clients)
                    ms = np.array(latencies) * 1000
                    rows.append(
                        {
                            "segments": size,
                            "clients": clients,
                            "requests": len(ms),
                            "p50_ms": round(float(np.percentile(ms, 50)), 1),
                            "p95_ms": round(float(np.percentile(ms, 95)), 1),
                            "p99_ms": round(float(np.percentile(ms, 99)), 1),
                            "qps": round(len(ms) / seconds, 1),
                        }
                    )
                    print(f"measured {rows[-1]}", file=sys.stderr, flush=True)
    print(f"\nGET /search end to end, {args.model} text encoder on CPU, k=8")
    print(f"{'segments':>9} {'clients':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'q/s':>7} {'p50/goal':>9} {'p99/goal':>9}")
    for r in rows:
        print(
            f"{r['segments']:>9} {r['clients']:>8} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['qps']:>7.1f} "
            f"{r['p50_ms'] / 50:>9.2f} {r['p99_ms'] / 150:>9.2f}"
        )
    print("goal at 100k segments with 8 clients: p50 <= 50 ms, p99 <= 150 ms (ratios <= 1)")
    print(json.dumps({"benchmark": "query_latency", "model": args.model, "rows": rows}))


if __name__ == "__main__":
    main()
