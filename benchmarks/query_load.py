"""What the query-latency benchmarks share: a synthetic index dir, caption-like queries, closed-loop HTTP
clients, and the percentiles they report (bench_query.py, bench_peer.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np

from benchmarks.bench_ann import clustered
from indexer.decoders.base import VideoInfo
from indexer.index_dir.writer import IndexWriter
from indexer.pipeline.options import BuildOptions, manifest_for
from indexer.segment import plan_segments

WORDS = "a man woman dog cat car street beach dancing running cooking red blue green night snow city river".split()

# one request: (client bound to the server's base URL, query) -> response
Send = Callable[[httpx.Client, str], httpx.Response]


def synthetic_index(index_dir: Path, encoder, segments: int, per_video: int = 100, index_type: str = "auto") -> None:
    """An index dir of ``segments`` clustered unit vectors (with catalog rows, ``per_video`` segments a video)."""
    options = BuildOptions(Path("/synthetic"), index_dir)
    writer = IndexWriter(index_dir, manifest_for(encoder, options), rebuild=True, index_type=index_type)
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


def caption(rng: np.random.Generator) -> str:
    return " ".join(rng.choice(WORDS, size=int(rng.integers(2, 7))))


def captions(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [caption(rng) for _ in range(count)]


def distinct_captions(count: int, seed: int) -> list[str]:
    """``count`` different captions: no query is answered from a server's cache of an earlier one."""
    rng = np.random.default_rng(seed)
    seen: dict[str, None] = {}
    while len(seen) < count:
        seen.setdefault(caption(rng))
    return list(seen)


def run_closed_loop(base: str, plans: list[list[str]], send: Send, timeout: float = 60.0) -> tuple[list[float], float]:
    """One thread per plan, each sending its queries one after the other (the next as soon as the previous
    answer is in). Returns every request's latency in seconds and the wall time of the whole run; the first
    failed request (HTTP error status or transport error) is raised once every thread has stopped."""
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def loop(queries: list[str]) -> None:
        try:
            with httpx.Client(base_url=base, timeout=timeout) as client:
                for q in queries:
                    started = time.perf_counter()
                    r = send(client, q)
                    elapsed = time.perf_counter() - started
                    r.raise_for_status()
                    with lock:
                        latencies.append(elapsed)
        except Exception as exc:  # noqa: BLE001 - re-raised in the caller's thread
            with lock:
                errors.append(exc)

    started = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(plan,)) for plan in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return latencies, time.perf_counter() - started


def latency_summary(latencies: list[float], seconds: float) -> dict:
    """requests, p50/p95/p99 in ms and throughput of one closed-loop run."""
    ms = np.array(latencies) * 1000
    return {
        "requests": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "qps": round(len(ms) / seconds, 1),
    }
