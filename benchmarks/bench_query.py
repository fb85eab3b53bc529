"""Query latency of GET /search end to end: a real `vidseek serve` on loopback, closed-loop clients.

    python benchmarks/bench_query.py [--sizes 10000,100000] [--clients 1,8] [--requests 200] [--model ViT-B-32]
                                     [--index-type auto] [--precisions float32,bfloat16,int8]

Builds an index dir of synthetic but clustered segment vectors (with catalog rows) per size, serves it
with the real text encoder (random weights: latency does not depend on their values) once per text
precision (VIDSEEK_TEXT_PRECISION), and reports p50/p95/p99, throughput and the server's CPU time per
query for each client count, then each lower precision's cosine drift from float32 over a few hundred
captions. The default precisions skip bfloat16 on a CPU without native bfloat16 (emulated there, slower
than float32). Exact (flat) indexes scan in bfloat16 with exact re-scoring where the CPU has it, whatever
the text precision. Ends with one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.query_load import captions, distinct_captions, latency_summary, run_closed_loop, synthetic_index  # noqa: E402
from models import load_encoder  # noqa: E402
from models.encoder import native_bfloat16  # noqa: E402
from models.quantize import text_drift, text_encoder_at  # noqa: E402
from tests.liveserver import running_server  # noqa: E402


def run_clients(base: str, clients: int, requests: int, seed: int) -> tuple[list[float], float]:
    per_client = max(1, requests // clients)
    plans = [captions(per_client, seed + i) for i in range(clients)]
    return run_closed_loop(base, plans, lambda client, q: client.get("/search", params={"q": q, "k": 8}), timeout=30)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux): steadier than latency on a shared machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--clients", default="1,8")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--index-type", default="auto", choices=["auto", "flat", "hnsw", "ivfpq"])
    parser.add_argument(
        "--precisions",
        default="float32,bfloat16,int8" if native_bfloat16() else "float32,int8",
        help="text precisions to serve with, in turn (default: float32, bfloat16 where the CPU has it, int8)",
    )
    args = parser.parse_args()
    encoder = load_encoder(args.model, "none", "cpu")
    texts = args.precisions.split(",")
    rows = []
    for size in map(int, args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            index_dir = Path(tmp) / "index"
            synthetic_index(index_dir, encoder, size, index_type=args.index_type)
            for text in texts:
                env = {**os.environ, "HF_HUB_OFFLINE": "1", "VIDSEEK_TEXT_PRECISION": text}
                with running_server(index_dir, env) as (base, server):
                    run_clients(base, 2, 20, seed=99)  # warm-up
                    for clients in map(int, args.clients.split(",")):
                        cpu = cpu_seconds(server.pid)
                        latencies, seconds = run_clients(base, clients, args.requests, seed=clients)
                        cpu_ms = (cpu_seconds(server.pid) - cpu) * 1000 / len(latencies)
                        summary = latency_summary(latencies, seconds)
                        rows.append({"segments": size, "clients": clients, "text": text, **summary, "cpu_ms": round(cpu_ms, 1)})
                        print(f"measured {rows[-1]}", file=sys.stderr, flush=True)
    print(f"\nGET /search end to end, {args.model} text encoder on CPU, k=8, {args.index_type} index")
    print(
        f"{'segments':>9} {'clients':>8} {'text':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'q/s':>7} {'cpu ms/q':>9} "
        f"{'p50/goal':>9} {'p99/goal':>9}"
    )
    for r in rows:
        print(
            f"{r['segments']:>9} {r['clients']:>8} {r['text']:>9} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f} "
            f"{r['qps']:>7.1f} {r['cpu_ms']:>9.1f} {r['p50_ms'] / 50:>9.2f} {r['p99_ms'] / 150:>9.2f}"
        )
    print("goal at 100k segments with 8 clients: p50 <= 50 ms, p99 <= 150 ms (ratios <= 1); cpu ms/q: server CPU per query")
    drift = {}
    texts_for_drift = distinct_captions(300, seed=7)
    for text in (t for t in texts if t != "float32"):
        cosines = text_drift(encoder, text_encoder_at(encoder, text), texts_for_drift)
        drift[text] = {"captions": len(cosines), "min_cosine": round(float(cosines.min()), 5)}
        drift[text]["mean_cosine"] = round(float(cosines.mean()), 5)
        print(f"{text} text encoder vs float32 over {len(cosines)} captions: cosine min {drift[text]['min_cosine']}, ", end="")
        print(f"mean {drift[text]['mean_cosine']}")
    record = {"benchmark": "query_latency", "model": args.model, "index": args.index_type, "rows": rows, "drift": drift}
    print(json.dumps(record))


if __name__ == "__main__":
    main()
