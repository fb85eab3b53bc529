"""What the query-latency benchmarks share: a synthetic index dir (optionally with the words a library's files carry:
names, titles, subtitle cues, in the catalog's full-text index), caption-like queries, closed-loop HTTP clients, and
the percentiles they report (bench_query.py, bench_peer.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np

from benchmarks.bench_ann import clustered
from indexer.decoders.base import VideoInfo
from indexer.index_dir.writer import IndexWriter
from indexer.pipeline.options import BuildOptions, manifest_for
from indexer.segment import plan_segments
from indexer.texts import Cue, VideoWords, cues_by_segment, text_stamp
from indexer.texts.names import name_words

WORDS = "a man woman dog cat car street beach dancing running cooking red blue green night snow city river".split()
# Words of subtitles that no caption asks for (spoken filler), and how a synthetic cue mixes its words: filler, the
# captions' WORDS (each of them then in about one cue in ten, so a query's words match many rows, as in a real
# library), and rarer words (a Zipf-like draw from RARE_WORDS made-up ones: most cues hold a word few others do).
FILLER = (
    "the and is you to it of in that this what here there we they go look come on up out with just now oh yes no "
    "okay right so very do not was be have can get know see well like want think"
).split()
RARE_WORDS = 5000
MIX = {"filler": 0.45, "words": 0.25, "rare": 0.30}
NAME_MIX = {"words": 0.5, "rare": 0.5}  # a file's name: no filler
CUE_SHARE = 0.75  # of a subtitled video's segments that have a cue
SUBTITLED = 0.8  # of the videos
TITLED = 0.3  # of the videos with a container title
LIBRARY = Path("/synthetic")

# one request: (client bound to the server's base URL, query) -> response
Send = Callable[[httpx.Client, str], httpx.Response]


def synthetic_index(
    index_dir: Path, encoder, segments: int, per_video: int = 100, index_type: str = "auto", words: bool = False
) -> dict[str, int]:
    """An index dir of ``segments`` clustered unit vectors (with catalog rows, ``per_video`` segments of 10 s a
    video). With ``words`` each video is in a folder, has a name of a few words, maybe a title and (most) subtitle
    cues over its segments (:func:`synthetic_words`), stored as a build's text stage stores them. Returns how many
    text rows it stored, by source."""
    options = BuildOptions(LIBRARY, index_dir)
    writer = IndexWriter(index_dir, manifest_for(encoder, options), rebuild=True, index_type=index_type)
    vectors = clustered(segments, encoder.dim, clusters=max(50, segments // 1000), seed=0)
    rng = np.random.default_rng(1)
    vocabulary = rare_words(RARE_WORDS, rng) if words else []
    for v, first in enumerate(range(0, segments, per_video)):
        count = min(per_video, segments - first)
        info = VideoInfo(count * 10.0, 25.0, 640, 360, "h264")
        path = synthetic_path(v, rng, vocabulary) if words else LIBRARY / f"video{v:06d}.mp4"
        writer.add_video(str(path), f"fp{v}", 1, info, plan_segments(count * 10.0, 10.0), vectors[first : first + count], [])
    stored: dict[str, int] = {}
    if words:
        for video in writer.indexed_videos():  # as the text stage does, after the videos are catalogued
            spans = [(s.start, s.end) for s in video.segments]
            found = synthetic_words(Path(video.path), spans, rng, vocabulary)
            writer.record_texts(video, found, text_stamp(Path(video.path), video.fingerprint, []))
            for row in found.rows:
                stored[row[1]] = stored.get(row[1], 0) + 1
    writer.publish()
    return stored


def rare_words(count: int, rng: np.random.Generator) -> list[str]:
    """``count`` made-up words of two or three syllables (a few may repeat: they are the same word then)."""
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    return ["".join(rng.choice(syllables, size=int(rng.integers(2, 4)))) for _ in range(count)]


def sentence(rng: np.random.Generator, vocabulary: list[str], low: int, high: int, mix: dict[str, float] = MIX) -> str:
    """``low`` to ``high`` - 1 words mixed as ``mix`` says; rare words drawn Zipf-like (the first most often)."""
    out = []
    for pick in rng.choice(list(mix), size=int(rng.integers(low, high)), p=list(mix.values())):
        if pick == "filler":
            out.append(str(rng.choice(FILLER)))
        elif pick == "words":
            out.append(str(rng.choice(WORDS)))
        else:
            out.append(vocabulary[(int(rng.zipf(1.3)) - 1) % len(vocabulary)])  # the tail wraps round
    return " ".join(out)


def synthetic_path(v: int, rng: np.random.Generator, vocabulary: list[str]) -> Path:
    """Video ``v``'s file: ``<year>/<word>/<two to four words>_<v>.mp4`` below :data:`LIBRARY`."""
    folder = f"{2012 + v % 12}/{vocabulary[int(rng.integers(0, 200))]}"
    name = "_".join(sentence(rng, vocabulary, 2, 5, NAME_MIX).split())
    return LIBRARY / folder / f"{name}_{v:04d}.mp4"


def synthetic_words(path: Path, spans: list[tuple[float, float]], rng: np.random.Generator, vocabulary: list[str]) -> VideoWords:
    """A video's words as :func:`indexer.texts.video_words` gives them: its cues by segment (a cue of 1.5 to 5 s,
    starting in :data:`CUE_SHARE` of the segments; one over a cut belongs to both), its name, maybe a title."""
    cues = []
    if rng.random() < SUBTITLED:
        for start, end in spans:
            if rng.random() < CUE_SHARE:
                at = start + float(rng.uniform(0, (end - start) * 0.7))
                cues.append(Cue(at, at + float(rng.uniform(1.5, 5.0)), sentence(rng, vocabulary, 5, 13)))
    rows: list[tuple[int | None, str, float | None, float | None, str]] = []
    for ordinal, found in enumerate(cues_by_segment(cues, spans)):
        rows += [(ordinal, "subtitle", cue.start, cue.end, cue.text) for cue in found]
    rows.append((None, "name", None, None, name_words(path, LIBRARY)))
    if rng.random() < TITLED:
        rows.append((None, "title", None, None, sentence(rng, vocabulary, 3, 7).title()))
    created = datetime(2012, 1, 1, tzinfo=UTC) + timedelta(days=float(rng.uniform(0, 12 * 365)))
    return VideoWords(rows, created, path.parent.relative_to(LIBRARY).as_posix(), bool(cues))


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


@dataclass(frozen=True)
class LoopRun:
    """One closed-loop run: every request's latency (s), the run's wall time (s), and what the load generator cost:
    the CPU time of its client threads (summed ``time.thread_time``) and of its whole process over the run."""

    latencies: list[float]
    seconds: float
    client_cpu_s: float
    process_cpu_s: float


def closed_loop(base: str, plans: list[list[str]], send: Send, timeout: float = 60.0) -> LoopRun:
    """One thread per plan, each sending its queries one after the other (the next as soon as the previous
    answer is in). The first failed request (HTTP error status or transport error) is raised once every thread
    has stopped."""
    latencies: list[float] = []
    thread_cpu: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def loop(queries: list[str]) -> None:
        cpu = time.thread_time()
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
        finally:
            with lock:
                thread_cpu.append(time.thread_time() - cpu)

    started, process_cpu = time.perf_counter(), time.process_time()
    threads = [threading.Thread(target=loop, args=(plan,)) for plan in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return LoopRun(latencies, time.perf_counter() - started, sum(thread_cpu), time.process_time() - process_cpu)


def run_closed_loop(base: str, plans: list[list[str]], send: Send, timeout: float = 60.0) -> tuple[list[float], float]:
    """:func:`closed_loop`'s latencies and wall time."""
    run = closed_loop(base, plans, send, timeout)
    return run.latencies, run.seconds


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
