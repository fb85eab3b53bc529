"""Against a peer: the same text queries on the same vectors through clip-retrieval's back end and vidseek.

    python benchmarks/bench_peer.py [--segments 10000,100000] [--clients 1,8] [--queries 200] [--k 20]
                                    [--engines openvino,onnxruntime]

Per size: a vidseek index dir of synthetic clustered vectors (exact inner-product Flat, forced), and a folder
for clip-retrieval's `clip_back` holding the very same vectors in a FAISS IndexFlatIP (metadata: segment id,
video id, path, file name, start, end; parquet by default). Both servers run on loopback: `vidseek serve`
(GET /search?q=...&k=K) and `clip_back` (POST /knn-service {"text", "modality": "image", "num_images": K,
"indice_name", "deduplicate": false}: no dedup, vidseek has none). Both text encoders are open_clip ViT-B-32
with the same random weights: vidseek's seeded 'none' model saved to a file that clip_back loads through its
own loader (clip_model "open_clip:ViT-B-32//abs/path.pt": all_clip passes the path to open_clip as the
pretrained checkpoint; nothing is patched or downloaded), both on CPU with OMP_NUM_THREADS=--threads, both
text towers in float32 unless --text-precision says otherwise (vidseek's exact scan still uses bfloat16
candidates with exact re-scoring where the CPU has it). A
top-K agreement check before timing shows both answer the same question. The same distinct captions then go
to both (1 and 8 closed-loop clients, runs interleaved, warm-up first) and the table gives p50/p95/p99, q/s
and the peer/vidseek ratios of p50 and p99 (above 1: vidseek is faster). --engines adds a vidseek server per
engine (`vidseek serve --engine NAME`: the text tower on ONNX Runtime or OpenVINO, models.engines), up beside the
other two on the same index and timed in turn with them, a row each. Ends with one line of JSON.

clip-retrieval (pinned) lives in its own virtualenv, built on the first run (a few minutes) and reused:
--peer-venv, default ~/.cache/vidseek/bench-peer-venv. torch, torchvision and faiss-cpu there are pinned to
the versions of vidseek's venv (installed first, then held by a constraints file), so the two servers run
the same kernels; clip-retrieval's other dependencies (numpy<2, open_clip 2.x, ...) never touch vidseek's venv.

What differs by design, not by setup: clip_back serves with Flask's threaded dev server (`clip-retrieval
back`), encodes each query alone at the full 77-token context (TorchScript with its default use_jit=True) and
looks metadata up row by row in pandas; vidseek serves with uvicorn, batches concurrent queries into one
encoder call, cuts the context to the longest query of the batch, and reads its SQL catalog.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from benchmarks.clip_back_server import (  # noqa: E402
    PEER_SCRIPT,
    BenchPeerError,
    clean_env,
    ensure_peer_venv,
    running_clip_back,
)
from benchmarks.query_load import distinct_captions, latency_summary, run_closed_loop, synthetic_index  # noqa: E402
from indexer.index_dir.ann import stored_vectors  # noqa: E402
from indexer.index_dir.reader import IndexReader  # noqa: E402
from models import load_encoder  # noqa: E402
from tests.liveserver import running_server  # noqa: E402

MODEL = "ViT-B-32"
INDICE_NAME = "vidseek"
AGREEMENT_QUERIES = 10
MIN_AGREEMENT = 0.9
WARMUP_CLIENTS, WARMUP_PER_CLIENT = 2, 8


# -- the same vectors, in clip_back's layout
def export_vectors(index_dir: Path, out: Path) -> int:
    """The vectors of vidseek's index in store order, with each one's segment row, as an .npz for the peer."""
    reader = IndexReader(index_dir)
    try:
        if reader.manifest.index_type != "flat":
            raise BenchPeerError(f"the vidseek index is {reader.manifest.index_type}, not flat: the comparison needs both exact")
        ids, vectors = stored_vectors(reader.index)
        records = {}
        for start in range(0, len(ids), 10_000):
            records.update(reader.segments(ids[start : start + 10_000].tolist()))
    finally:
        reader.close()
    rows = [records[int(i)] for i in ids]
    np.savez(
        out,
        vectors=vectors,
        segment_id=ids,
        video_id=np.array([r.video_id for r in rows], np.int64),
        start=np.array([r.start for r in rows], np.float64),
        end=np.array([r.end for r in rows], np.float64),
        path=np.array([r.path for r in rows]),
    )
    return len(ids)


# -- the two requests
def vidseek_send(k: int):
    def send(client: httpx.Client, q: str) -> httpx.Response:
        return client.get("/search", params={"q": q, "k": k})

    return send


def peer_send(k: int):
    def send(client: httpx.Client, q: str) -> httpx.Response:
        body = {"text": q, "modality": "image", "num_images": k, "indice_name": INDICE_NAME, "deduplicate": False}
        return client.post("/knn-service", json=body)

    return send


def topk_agreement(vidseek: str, peer: str, queries: list[str], k: int) -> float:
    """Mean share of the top k segments both servers return for the same query (1.0: the same question)."""
    shares = []
    with httpx.Client(base_url=vidseek, timeout=120) as to_vidseek, httpx.Client(base_url=peer, timeout=120) as to_peer:
        for q in queries:
            mine = vidseek_send(k)(to_vidseek, q)
            theirs = peer_send(k)(to_peer, q)
            mine.raise_for_status()
            theirs.raise_for_status()
            a = {r["segment_id"] for r in mine.json()["results"]}
            b = {r["segment_id"] for r in theirs.json()}
            shares.append(len(a & b) / k)
    return float(np.mean(shares))


def plans_for(pool: list[str], clients: int, queries: int) -> tuple[list[list[str]], list[str]]:
    """``clients`` query lists of ``queries // clients`` each from the front of ``pool``, and the rest of it."""
    per_client = max(1, queries // clients)
    plans = [pool[i * per_client : (i + 1) * per_client] for i in range(clients)]
    return plans, pool[clients * per_client :]


def _stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so the servers' context managers stop them."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
    if min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected numbers >= 1, got {text!r}")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--segments", type=_int_list, default="10000,100000", help="index sizes, comma separated")
    parser.add_argument("--clients", type=_int_list, default="1,8", help="closed-loop client counts, comma separated")
    parser.add_argument("--queries", type=int, default=200, help="timed queries per server, size and client count")
    parser.add_argument("--k", type=int, default=20, help="results per query (1-100)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="OMP threads of each server")
    parser.add_argument("--peer-venv", type=Path, default=Path.home() / ".cache" / "vidseek" / "bench-peer-venv")
    parser.add_argument("--peer-metadata", choices=("parquet", "arrow"), default="parquet", help="clip_back's metadata store")
    parser.add_argument("--peer-jit", action=argparse.BooleanOptionalAction, default=True, help="clip_back's use_jit")
    parser.add_argument("--engines", default="", help="`vidseek serve --engine` values, a vidseek server each beside the default")
    parser.add_argument(
        "--text-precision",
        default="float32",
        choices=("auto", "float32", "bfloat16", "int8"),
        help="vidseek's text tower (default float32, like clip_back's; 'auto' is what vidseek serve uses by default)",
    )
    args = parser.parse_args()
    if not 1 <= args.k <= 100 or min(args.segments) < args.k or args.queries < 1 or args.threads < 1:
        parser.error("need 1 <= k <= 100, every size >= k, queries >= 1 and threads >= 1")
    _stop_on_sigterm()
    try:
        rows, peer_info = compare(args)
    except (BenchPeerError, subprocess.CalledProcessError, httpx.HTTPError) as exc:
        sys.exit(f"bench_peer: {exc}")
    except KeyboardInterrupt:
        sys.exit("bench_peer: interrupted (both servers stopped)")
    print_table(rows, args, peer_info)


def _progress(started: float, message: str) -> None:
    print(f"[{time.monotonic() - started:6.0f} s] {message}", file=sys.stderr, flush=True)


def compare(args: argparse.Namespace) -> tuple[list[dict], dict]:
    """Both servers per size, the agreement check, warm-up, then the interleaved timed runs: (rows, peer versions)."""
    started = time.monotonic()
    peer_python = ensure_peer_venv(args.peer_venv.expanduser().resolve())
    queries_needed = sum(max(1, args.queries // c) * c for c in args.clients)
    pool = distinct_captions(AGREEMENT_QUERIES + WARMUP_CLIENTS * WARMUP_PER_CLIENT + queries_needed, seed=0)
    threads = str(args.threads)
    server_env = {"HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    vidseek_env = {**os.environ, **server_env, "VIDSEEK_TEXT_PRECISION": args.text_precision}
    peer_env = clean_env(**server_env, TOKENIZERS_PARALLELISM="false", WANDB_MODE="disabled")
    encoder = load_encoder(MODEL, "none", "cpu")
    rows, peer_info = [], {}
    engines = [e for e in args.engines.split(",") if e]
    with tempfile.TemporaryDirectory(prefix="vidseek-bench-peer-") as tmp:
        weights = Path(tmp) / f"{MODEL}-none.pt"
        torch.save(encoder.model.state_dict(), weights)  # the peer loads vidseek's exact weights
        for size in args.segments:
            size_dir = Path(tmp) / str(size)
            _progress(started, f"{size} segments: building both indexes")
            index_dir, clip_back_kwargs = prepare_both(args, encoder, size, size_dir, weights, peer_python, peer_env)
            _progress(started, f"{size} segments: starting vidseek serve and clip_back")
            with ExitStack() as servers:
                vidseek, _ = servers.enter_context(running_server(index_dir, vidseek_env, start_timeout_s=600))
                on_engines = {
                    f"vidseek:{engine}": servers.enter_context(
                        running_server(index_dir, vidseek_env, start_timeout_s=600, args=("--engine", engine))
                    )[0]
                    for engine in engines
                }
                peer, peer_info = servers.enter_context(running_clip_back(peer_python, clip_back_kwargs, peer_env, size_dir))
                if peer_info.get("torch_threads") not in (None, args.threads):
                    print(f"warning: clip_back runs torch with {peer_info['torch_threads']} threads", file=sys.stderr)
                rows += timed_runs(args, {"vidseek": vidseek, **on_engines}, peer, pool, size, started)
    _progress(started, "done")
    return rows, peer_info


def prepare_both(args, encoder, size: int, size_dir: Path, weights: Path, peer_python: Path, peer_env: dict) -> tuple[Path, dict]:
    """vidseek's index of ``size`` synthetic segments and clip_back's of the same vectors: (index dir, clip_back's
    settings)."""
    index_dir, peer_dir = size_dir / "index", size_dir / "clip_back"
    synthetic_index(index_dir, encoder, size, index_type="flat")
    export_vectors(index_dir, size_dir / "export.npz")
    prepare = [str(peer_python), str(PEER_SCRIPT), "prepare", str(size_dir / "export.npz"), str(peer_dir)]
    subprocess.run([*prepare, "--metadata", args.peer_metadata], check=True, env=peer_env)
    (size_dir / "indices_paths.json").write_text(json.dumps({INDICE_NAME: str(peer_dir)}))
    return index_dir, {
        "indices_paths": str(size_dir / "indices_paths.json"),
        "clip_model": f"open_clip:{MODEL}/{weights}",
        "use_jit": args.peer_jit,
        "use_arrow": args.peer_metadata == "arrow",
        "enable_hdf5": False,
        "enable_faiss_memory_mapping": False,
        "columns_to_return": ["segment_id", "video_id", "url", "caption", "start", "end"],
        "enable_mclip_option": False,  # would download M-CLIP
        "provide_aesthetic_embeddings": False,  # would download embeddings
        "provide_safety_model": False,
        "provide_violence_detector": False,
    }


def timed_runs(args, vidseeks: dict[str, str], peer: str, pool: list[str], size: int, started: float) -> list[dict]:
    """With every server up (``vidseeks``: name -> base URL): the agreement check of each vidseek with the peer,
    the warm-up, then one row per client count (servers interleaved, the same queries to each)."""
    agreements = {name: topk_agreement(base, peer, pool[:AGREEMENT_QUERIES], args.k) for name, base in vidseeks.items()}
    agreement = min(agreements.values())
    if agreement < MIN_AGREEMENT:
        raise BenchPeerError(f"top-{args.k} overlap {agreements}: the servers do not answer the same question")
    warmup, rest = plans_for(pool[AGREEMENT_QUERIES:], WARMUP_CLIENTS, WARMUP_CLIENTS * WARMUP_PER_CLIENT)
    for base in vidseeks.values():
        run_closed_loop(base, warmup, vidseek_send(args.k))
    run_closed_loop(peer, warmup, peer_send(args.k))
    servers = [(name, base, vidseek_send(args.k)) for name, base in vidseeks.items()] + [("clip_back", peer, peer_send(args.k))]
    rows = []
    for clients in args.clients:
        _progress(started, f"{size} segments: {clients} client(s), {args.queries} queries to each server")
        plans, rest = plans_for(rest, clients, args.queries)
        measured = {name: latency_summary(*run_closed_loop(base, plans, send)) for name, base, send in servers}
        ratios = {}
        for name in vidseeks:
            suffix = "" if name == "vidseek" else f"_{name.partition(':')[2]}"
            for q in ("p50", "p99"):
                ratios[f"{q}_ratio{suffix}"] = round(measured["clip_back"][f"{q}_ms"] / measured[name][f"{q}_ms"], 2)
        rows.append({"segments": size, "clients": clients, **measured, **ratios, "topk_agreement": round(agreement, 3)})
        print(f"measured {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def print_table(rows: list[dict], args: argparse.Namespace, peer_info: dict) -> None:
    peer = f"clip-retrieval {peer_info.get('clip_retrieval', '?')} clip_back"
    print(f"\nThe same queries on the same vectors: vidseek GET /search vs {peer} POST /knn-service")
    print(
        f"{MODEL} text encoders with the same random weights on CPU, OMP_NUM_THREADS={args.threads} each, k={args.k}, "
        f"exact inner-product Flat on both; clip_back use_jit={args.peer_jit}, {args.peer_metadata} metadata, no dedup; "
        f"vidseek text tower {args.text_precision} (vidseek:NAME: served with --engine NAME)"
    )
    head = f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'q/s':>7}"
    print(f"{'segments':>9} {'clients':>7} {'server':>18} {head} {'clip_back/this p50':>18} {'p99':>6} {'top-k':>6}")
    for r in rows:
        for name in [n for n in r if n.startswith("vidseek")] + ["clip_back"]:
            m = r[name]
            suffix = "" if name == "vidseek" else f"_{name.partition(':')[2]}"
            ratios = f"{r[f'p50_ratio{suffix}']:>18.2f} {r[f'p99_ratio{suffix}']:>6.2f}" if name != "clip_back" else f"{'':>25}"
            cells = f"{m['p50_ms']:>8.1f} {m['p95_ms']:>8.1f} {m['p99_ms']:>8.1f} {m['qps']:>7.1f}"
            print(f"{r['segments']:>9} {r['clients']:>7} {name:>18} {cells} {ratios} {r['topk_agreement']:>6.2f}")
    print("ratio > 1: vidseek answers faster; top-k: share of the top-k results both servers agree on before timing")
    vidseek_env = {k: v for k, v in sorted(os.environ.items()) if k.startswith("VIDSEEK_")}
    if vidseek_env:
        print("vidseek served with " + " ".join(f"{k}={v}" for k, v in vidseek_env.items()))
    summary = {
        "benchmark": "peer_clip_back",
        "model": MODEL,
        "k": args.k,
        "threads": args.threads,
        "text_precision": args.text_precision,
        "engines": [e for e in args.engines.split(",") if e],
        "vidseek_env": vidseek_env,
        "peer": {**peer_info, "use_jit": args.peer_jit, "metadata": args.peer_metadata, "deduplicate": False},
        "rows": rows,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
