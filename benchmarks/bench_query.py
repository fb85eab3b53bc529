"""Query latency of GET /search end to end: a real `vidseek serve` on loopback, closed-loop clients, and what the
server spends per query beside what the query's work itself costs.

    python benchmarks/bench_query.py [--sizes 10000,100000] [--clients 1,8] [--requests 200] [--model ViT-B-32]
                                     [--index-type auto] [--precisions float32,bfloat16,int8] [--modes visual,hybrid]
                                     [--engines torch,onnxruntime]

Builds an index dir per size of synthetic but clustered segment vectors whose videos carry words (folders, names,
titles, subtitle cues mixing the captions' words with filler and rare ones, in the catalog's full-text index:
benchmarks/query_load.py), serves it with the real text encoder (random weights: latency does not depend on their
values) once per text precision (VIDSEEK_TEXT_PRECISION) and engine, and sends each mode's queries (GET
/search?q=...&mode=visual|hybrid, k=8, moments) from each client count in turn, every query distinct over a server's
life (none is answered from its cache). Reported per size x clients x mode: p50/p95/p99, q/s, the server's CPU time
per query (/proc), the load generator's own CPU per query (this process during the loop: it shares the cores) and
hybrid's ratios to visual from the same server run.

Pure compute per query, measured in this process right after each client count's HTTP runs (the server idle), with
the server's thread settings: the text tower on a batch of ``clients`` (at most 32) captions, and one batched index
search of their vectors for as many candidates as a page of moments asks, each divided by the batch (the server
batches concurrent queries so; 8 closed-loop clients make batches of about 8); hybrid adds each query's full-text
query. The goal: server CPU per query <= 1.25x that (HTTP, JSON, batching and catalog overhead <= 25 %).

--engines passes `vidseek serve --engine NAME` where the server has that option (skipped with a message where it does
not, or rejects the name); pure compute is measured with the encoder that server embeds with. The default
precisions skip bfloat16 on a CPU without native bfloat16 (emulated there, slower than float32). Exact (flat)
indexes scan in bfloat16 with exact re-scoring where the CPU has it, whatever the text precision. Ends with one
line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from app.services import query_encoder  # noqa: E402
from app.services.fusion import POOL as TEXT_POOL  # noqa: E402
from app.services.search import candidate_pool  # noqa: E402
from app.settings import Settings  # noqa: E402
from benchmarks.query_load import closed_loop, distinct_captions, latency_summary, synthetic_index  # noqa: E402
from indexer import open_index  # noqa: E402
from indexer.cores import usable_cores  # noqa: E402
from indexer.index_dir.ann import set_search_threads  # noqa: E402
from models import load_encoder  # noqa: E402
from models.encoder import native_bfloat16, set_intra_op_threads  # noqa: E402
from models.quantize import text_drift, text_encoder_at  # noqa: E402
from tests.liveserver import running_server  # noqa: E402

K = 8  # results a query asks for (one page of moments)
MAX_BATCH = 32  # the server's QueryEncoder default
WARMUP_PER_MODE = 20
GOAL_OVERHEAD = 1.25  # server CPU per query / pure compute per query
COMPUTE_REPS = 15  # batches timed for the tower and the scan (median); full-text queries: 4 batches' worth, 3 times


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux): steadier than latency on a shared machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def search_get(mode: str):
    return lambda client, q: client.get("/search", params={"q": q, "k": K, "mode": mode})


def measure(base: str, server, clients: int, queries: list[str], mode: str) -> dict:
    """One closed loop of ``queries`` split among ``clients``: latency, q/s, server and load-generator CPU per query."""
    per_client = len(queries) // clients
    plans = [queries[i * per_client : (i + 1) * per_client] for i in range(clients)]
    cpu = cpu_seconds(server.pid)
    run = closed_loop(base, plans, search_get(mode), timeout=30)
    server_s = cpu_seconds(server.pid) - cpu
    n = len(run.latencies)
    return {
        **latency_summary(run.latencies, run.seconds),
        "cpu_ms": round(server_s * 1000 / n, 2),
        "client_cpu_ms": round(run.process_cpu_s * 1000 / n, 2),
        "client_thread_cpu_ms": round(run.client_cpu_s * 1000 / n, 2),
        "cores_busy": round((server_s + run.process_cpu_s) / run.seconds, 2),
    }


def median_cpu_ms(call, reps: int) -> float:
    """The median CPU time (this process, every thread: torch's pool too) of ``call(i)`` for i < ``reps``, after one
    untimed call."""
    call(0)
    times = []
    for i in range(reps):
        started = time.process_time()
        call(i)
        times.append((time.process_time() - started) * 1000)
    return statistics.median(times)


def pure_compute(text_encoder, reader, settings: Settings, batch: int, seed: int) -> dict[str, float]:
    """CPU ms per query of the work itself, as the server's worker does it (app/batching.py): the text tower on a
    batch of ``batch`` captions (``query_threads`` torch threads), one ``search_batch`` of their vectors for a page of
    moments' candidates (``scan_threads`` torch threads, ``query_threads`` FAISS ones), each / ``batch``; and one
    full-text query (hybrid's; unbatched: each request makes its own)."""
    threads, scan_threads = settings.query_threads_or_default, settings.scan_threads_or_default
    texts = distinct_captions(batch * (COMPUTE_REPS + 1), seed)
    batches = [texts[i * batch : (i + 1) * batch] for i in range(COMPUTE_REPS + 1)]
    set_intra_op_threads(threads)
    set_search_threads(threads)
    tower = median_cpu_ms(lambda i: text_encoder.encode_text(batches[i]), COMPUTE_REPS)
    vectors = [text_encoder.encode_text(b) for b in batches]
    pool = candidate_pool(K)
    set_intra_op_threads(scan_threads)
    try:
        scan = median_cpu_ms(lambda i: reader.search_batch(vectors[i], [pool] * batch, [0] * batch, [None] * batch), COMPUTE_REPS)
    finally:
        set_intra_op_threads(threads)
    words = texts[: max(8, 4 * batch)]
    fts = median_cpu_ms(lambda i: [reader.search_texts(q, TEXT_POOL) for q in words], 3) / len(words)
    return {"batch": batch, "tower_ms": round(tower / batch, 2), "scan_ms": round(scan / batch, 2), "words_ms": round(fts, 2)}


def pure_of(shares: dict[str, float], mode: str) -> float:
    """A mode's pure compute: every query is embedded; visual and hybrid scan the index, hybrid and text query the words."""
    return shares["tower_ms"] + (shares["scan_ms"] if mode != "text" else 0.0) + (shares["words_ms"] if mode != "visual" else 0.0)


def serve_accepts(option: str) -> bool:
    """Whether `vidseek serve` has ``option`` (read from its help, as a user would find it)."""
    done = subprocess.run([sys.executable, "-m", "app.cli", "serve", "--help"], capture_output=True, text=True, timeout=120)
    return option in done.stdout


def engine_args(engines: list[str | None]) -> list[tuple[str, tuple[str, ...]]]:
    """(label, serve arguments) for each engine asked for; those the server cannot take are skipped, with a message."""
    if engines == [None]:
        return [("default", ())]
    if not serve_accepts("--engine"):
        print(f"skipped engines {', '.join(map(str, engines))}: `vidseek serve` has no --engine option", file=sys.stderr)
        return [("default", ())]
    return [(engine, ("--engine", engine)) for engine in engines]


def serve_and_measure(index_dir: Path, args, text: str, engine: str, serve: tuple[str, ...], encoder, seed: int) -> list[dict]:
    """One server (one precision, one engine): each client count's closed loops, mode by mode, then the pure compute."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VIDSEEK_TEXT_PRECISION": text}
    settings = Settings(index_dir=index_dir, text_precision=text)
    counts = [int(c) for c in args.clients.split(",")]
    per_run = [max(1, args.requests // c) * c for c in counts]
    queries = iter(distinct_captions(len(args.modes) * (WARMUP_PER_MODE + sum(per_run)), seed=seed))
    rows = []
    with ExitStack() as stack:
        try:
            base, server = stack.enter_context(running_server(index_dir, env, args=serve))
        except RuntimeError as exc:
            print(f"skipped engine {engine} ({text}): {str(exc).strip().splitlines()[-1]}", file=sys.stderr)
            return []
        reader = stack.enter_context(closing(open_index(index_dir)))
        text_encoder = query_encoder(encoder, "auto" if engine == "default" else engine, text)  # as the server's
        for mode in args.modes:  # warm-up: the first batches, the full-text statements
            measure(base, server, 2, [next(queries) for _ in range(WARMUP_PER_MODE)], mode)
        for clients, count in zip(counts, per_run):
            measured = []
            for mode in args.modes:
                row = {"segments": reader.count, "clients": clients, "text": text, "engine": engine, "mode": mode}
                measured.append({**row, **measure(base, server, clients, [next(queries) for _ in range(count)], mode)})
                print(f"measured {measured[-1]}", file=sys.stderr, flush=True)
            if text_encoder is not None:
                shares = pure_compute(text_encoder, reader, settings, min(clients, MAX_BATCH), seed=clients)
                for row in measured:
                    row.update(shares, pure_ms=round(pure_of(shares, row["mode"]), 2))
                    row["server_vs_pure"] = round(row["cpu_ms"] / row["pure_ms"], 2)
            rows += measured
    return rows


def hybrid_ratios(rows: list[dict]) -> list[dict]:
    """hybrid / visual for each size x clients x precision x engine measured in both modes (one server run)."""
    by_key = {(r["segments"], r["clients"], r["text"], r["engine"], r["mode"]): r for r in rows}
    out = []
    for (size, clients, text, engine, mode), hybrid in by_key.items():
        visual = by_key.get((size, clients, text, engine, "visual"))
        if mode != "hybrid" or visual is None:
            continue
        ratio = {key: round(hybrid[key] / visual[key], 2) for key in ("p50_ms", "p95_ms", "p99_ms", "qps", "cpu_ms")}
        out.append({"segments": size, "clients": clients, "text": text, "engine": engine, **ratio})
    return out


def print_tables(rows: list[dict], ratios: list[dict], args) -> None:
    head = f"{'segments':>9} {'clients':>7} {'text':>9} {'engine':>8} {'mode':>7}"

    def key(r: dict) -> str:
        return f"{r['segments']:>9} {r['clients']:>7} {r['text']:>9} {r['engine']:>8} {r.get('mode', 'hyb/vis'):>7}"

    print(f"\nGET /search end to end, {args.model} text encoder on CPU, k={K} moments, {args.index_type} index with words")
    columns = f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'q/s':>6} {'srv cpu':>8} {'gen cpu':>8} {'busy':>5}"
    print(f"{head} {columns} {'p50/goal':>8} {'p99/goal':>8}")
    for r in rows:
        print(
            f"{key(r)} {r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['qps']:>6.1f} {r['cpu_ms']:>8.1f} "
            f"{r['client_cpu_ms']:>8.1f} {r['cores_busy']:>5.2f} {r['p50_ms'] / 50:>8.2f} {r['p99_ms'] / 150:>8.2f}"
        )
    print(
        "srv cpu / gen cpu: ms of CPU per query in the server / in this load generator (its client threads: "
        f"{_thread_share(rows)});\nbusy: both, in cores of {usable_cores()} (the rest: other processes, or idle). "
        "Goal at 100k segments with 8 clients: p50 <= 50 ms, p99 <= 150 ms"
    )
    if ratios:
        print("\nhybrid / visual, same server run")
        print(f"{head} {'p50':>6} {'p95':>6} {'p99':>6} {'q/s':>6} {'srv cpu':>8}")
        for r in ratios:
            print(f"{key(r)} {r['p50_ms']:>6.2f} {r['p95_ms']:>6.2f} {r['p99_ms']:>6.2f} {r['qps']:>6.2f} {r['cpu_ms']:>8.2f}")
    pure = [r for r in rows if "pure_ms" in r]
    if pure:
        print("\nserver CPU per query vs pure compute per query (CPU ms, measured in this run; batch = clients)")
        print(f"{head} {'tower':>6} {'scan':>6} {'words':>6} {'pure':>6} {'srv cpu':>8} {'ratio':>6} {'goal':>5}")
        for r in pure:
            met = "met" if r["server_vs_pure"] <= GOAL_OVERHEAD else "NOT"
            scan, words = (r[f] if r["mode"] != skip else 0.0 for f, skip in (("scan_ms", "text"), ("words_ms", "visual")))
            print(
                f"{key(r)} {r['tower_ms']:>6.2f} {scan:>6.2f} {words:>6.2f} {r['pure_ms']:>6.2f} {r['cpu_ms']:>8.2f} "
                f"{r['server_vs_pure']:>6.2f} {met:>5}"
            )
        print(
            f"tower: text tower's batch / batch; scan: one batched search / batch; words: a full-text query (hybrid); "
            f"goal: srv cpu <= {GOAL_OVERHEAD} x pure"
        )


def _thread_share(rows: list[dict]) -> str:
    share = [r["client_thread_cpu_ms"] / r["client_cpu_ms"] for r in rows if r["client_cpu_ms"] > 0]
    return f"{min(share):.0%}-{max(share):.0%} of it" if share else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--clients", default="1,8")
    parser.add_argument("--requests", type=int, default=200, help="per client count and mode")
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--index-type", default="auto", choices=["auto", "flat", "hnsw", "ivfpq"])
    parser.add_argument(
        "--precisions",
        default="float32,bfloat16,int8" if native_bfloat16() else "float32,int8",
        help="text precisions to serve with, in turn (default: float32, bfloat16 where the CPU has it, int8)",
    )
    parser.add_argument("--modes", default="visual,hybrid", help="search modes, each sent as mode=... (visual, hybrid, text)")
    parser.add_argument("--engines", default="", help="`vidseek serve --engine` values, in turn (default: the server's own)")
    args = parser.parse_args()
    args.modes = args.modes.split(",")
    encoder = load_encoder(args.model, "none", "cpu")
    texts = args.precisions.split(",")
    engines = engine_args([e for e in args.engines.split(",") if e] or [None])
    rows = []
    for size in map(int, args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            index_dir = Path(tmp) / "index"
            started = time.perf_counter()
            stored = synthetic_index(index_dir, encoder, size, index_type=args.index_type, words=True)
            print(f"built {size} segments with words {stored} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
            for e, (engine, serve) in enumerate(engines):
                for t, text in enumerate(texts):
                    rows += serve_and_measure(index_dir, args, text, engine, serve, encoder, seed=100 * e + t)
    ratios = hybrid_ratios(rows)
    print_tables(rows, ratios, args)
    drift = {}
    texts_for_drift = distinct_captions(300, seed=7)
    for text in (t for t in texts if t != "float32"):
        cosines = text_drift(encoder, text_encoder_at(encoder, text), texts_for_drift)
        drift[text] = {"captions": len(cosines), "min_cosine": round(float(cosines.min()), 5)}
        drift[text]["mean_cosine"] = round(float(cosines.mean()), 5)
        print(f"{text} text encoder vs float32 over {len(cosines)} captions: cosine min {drift[text]['min_cosine']}, ", end="")
        print(f"mean {drift[text]['mean_cosine']}")
    record = {
        "benchmark": "query_latency",
        "model": args.model,
        "index": args.index_type,
        "goal_server_vs_pure": GOAL_OVERHEAD,
        "rows": rows,
        "hybrid_vs_visual": ratios,
        "drift": drift,
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()
