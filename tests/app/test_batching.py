import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from app import batching
from app.batching import QueryEncoder
from app.services import VidseekService
from app.settings import Settings
from indexer import open_index
from indexer.decoders import VideoInfo
from indexer.index_dir.writer import IndexWriter
from indexer.pipeline.options import BuildOptions, manifest_for
from indexer.segment import plan_segments
from models.engines import engine_label
from models.quantize import text_precision

SEGMENTS = 2000


class GatedEncoder:
    """Wraps the tiny encoder: records each call's batch, holds the first call until ``gate`` opens, fails on 'boom'."""

    def __init__(self, encoder, delays=()):
        """``delays``: seconds the first calls take (one each, once the gate is open), as a larger model would."""
        self.inner = encoder
        self.dim = encoder.dim
        self.calls = []
        self.delays = list(delays)
        self.entered = threading.Event()
        self.gate = threading.Event()

    def encode_text(self, texts, template="{}"):
        self.entered.set()
        self.gate.wait(10)
        time.sleep(self.delays.pop(0) if self.delays else 0.0)
        self.calls.append(list(texts))
        if any("boom" in t for t in texts):
            raise RuntimeError("the encoder cannot take 'boom'")
        return self.inner.encode_text(texts, template)


class BrokenReader:
    def search_batch(self, queries, ks, offsets, min_scores):
        raise RuntimeError("this index generation is gone")


@pytest.fixture(scope="module", params=["flat", "hnsw"])
def reader(request, _tiny_encoder, tmp_path_factory):
    """A published index of 2000 random unit vectors with catalog rows (20 videos of 100 segments): exact
    (searched in batches by one matrix product) or HNSW (by FAISS)."""
    index_dir = tmp_path_factory.mktemp("batched-index")
    manifest = manifest_for(_tiny_encoder, BuildOptions(Path("/synthetic"), index_dir))
    writer = IndexWriter(index_dir, manifest, index_type=request.param)
    vectors = np.random.default_rng(0).normal(size=(SEGMENTS, _tiny_encoder.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for v, first in enumerate(range(0, SEGMENTS, 100)):
        info = VideoInfo(1000.0, 25.0, 64, 64, "h264")
        writer.add_video(f"/synthetic/{v}.mp4", f"fp{v}", 1, info, plan_segments(1000.0, 10.0), vectors[first : first + 100], [])
    writer.publish()
    opened = open_index(index_dir)
    assert opened.manifest.index_type == request.param
    yield opened
    opened.close()


def in_one_batch(queries: QueryEncoder, encoder: GatedEncoder, calls) -> list:
    """Run each call on its own thread while the worker is held on a first query, so that they all reach it
    in one batch; returns each call's result or exception."""
    results = [None] * len(calls)

    def run(i, call):
        try:
            results[i] = call()
        except Exception as exc:  # noqa: BLE001 - the test looks at which caller got what
            results[i] = exc

    holder = threading.Thread(target=queries.encode, args=("hold the worker",))
    holder.start()
    assert encoder.entered.wait(10)
    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while queries.pending < len(calls) and time.monotonic() < deadline:
        time.sleep(0.005)
    encoder.gate.set()
    for t in [holder, *threads]:
        t.join(10)
    return results


def test_concurrent_queries_share_encoder_calls_and_results_are_exact(tiny_encoder):
    gated = GatedEncoder(tiny_encoder)
    queries = QueryEncoder(gated)
    texts = [f"query number {i}" for i in range(12)] + ["query number 3"]
    results = in_one_batch(queries, gated, [lambda t=t: queries.encode(t) for t in texts])
    assert gated.calls[1:] == [[f"query number {i}" for i in range(12)]]  # one call, each distinct text once
    for text, vector in zip(texts, results):
        np.testing.assert_allclose(vector, tiny_encoder.encode_text([text])[0], atol=1e-5)
    assert results[3] is results[12]  # the repeated text shares one read-only vector
    queries.close()


def test_batched_search_answers_each_caller_as_its_own_search_would(tiny_encoder, reader):
    gated = GatedEncoder(tiny_encoder)
    queries = QueryEncoder(gated)
    like = reader.segment_vector(17)
    asks = [  # (text or vector, k, offset, min_score): different pages and thresholds in one batch
        ("a red car", 8, 0, None),
        ("a red car", 3, 5, None),
        ("dog on a beach", 10, 0, 0.1),
        ("dog on a beach", 5, 2, 0.1),
        ("snow at night", 4, 0, 0.2),
        ("city river", 100, 40, None),
        ("everything", 100, SEGMENTS - 30, None),  # past the end: the last 30
        (like, 6, 0, None),
    ]
    calls = [
        (lambda q=q, a=a: queries.search(reader, q, *a) if isinstance(q, str) else queries.search_vector(reader, q, *a))
        for q, *a in asks
    ]
    results = in_one_batch(queries, gated, calls)
    assert queries.searches == 1 and queries.searched == len(asks)  # one FAISS call for all of them
    assert gated.calls[1:] == [["a red car", "dog on a beach", "snow at night", "city river", "everything"]]
    for (q, k, offset, min_score), (hits, total) in zip(asks, results):
        vector = tiny_encoder.encode_text([q])[0] if isinstance(q, str) else q
        expected_hits, expected_total = reader.search(vector, k, offset, min_score)
        assert [i for i, _ in hits] == [i for i, _ in expected_hits]
        np.testing.assert_allclose([s for _, s in hits], [s for _, s in expected_hits], atol=1e-5)
        assert total == expected_total
        exact = reader.manifest.index_type == "flat"  # HNSW need not reach every vector of a deep page
        assert len(hits) == min(k, SEGMENTS - offset) or min_score is not None or not exact
    assert results[-1][0][0][0] == 17  # a segment's own vector finds it first
    queries.close()


def test_errors_reach_only_the_callers_they_belong_to(tiny_encoder, reader):
    gated = GatedEncoder(tiny_encoder)
    queries = QueryEncoder(gated)
    results = in_one_batch(
        queries,
        gated,
        [
            lambda: queries.search(reader, "a red car", 5),
            lambda: queries.search(reader, "boom goes the query", 5),
            lambda: queries.search(BrokenReader(), "a red car", 5),
            lambda: queries.search(reader, "dog on a beach", 5),
        ],
    )
    ok_red, boom, broken, ok_dog = results
    assert isinstance(boom, RuntimeError) and "boom" in str(boom)
    assert isinstance(broken, RuntimeError) and "generation is gone" in str(broken)
    for (hits, _), text in ((ok_red, "a red car"), (ok_dog, "dog on a beach")):
        expected, _ = reader.search(tiny_encoder.encode_text([text])[0], 5)
        assert [i for i, _ in hits] == [i for i, _ in expected]
        np.testing.assert_allclose([s for _, s in hits], [s for _, s in expected], atol=1e-5)
    with pytest.raises(ValueError, match="k must be at least 1"):
        queries.search(reader, "a red car", 0)
    with pytest.raises(ValueError, match="shape"):
        queries.search_vector(reader, np.zeros(3, np.float32), 5)
    assert queries.search(reader, "snow", 2)[0]  # the worker is still serving
    queries.close()


def test_repeated_queries_skip_the_encoder_but_still_search(tiny_encoder, reader):
    gated = GatedEncoder(tiny_encoder)
    gated.gate.set()
    queries = QueryEncoder(gated, cache_size=2)
    first = queries.search(reader, "a red car", 8)
    assert queries.search(reader, "a red car", 8) == first
    assert queries.search(reader, "a red car", 4, 4) == (first[0][4:], first[1])
    assert gated.calls == [["a red car"]] and queries.searches == 3
    assert queries.encode("a red car") is queries.encode("a red car")
    queries.encode("b")
    queries.encode("c")  # the cache holds two texts: 'a red car' is the least recently used
    queries.encode("a red car")
    assert gated.calls == [["a red car"], ["b"], ["c"], ["a red car"]]
    queries.close()


@pytest.mark.parametrize("precision", ["int8", "bfloat16"])
def test_text_precision_setting_switches_only_the_query_text_tower(_tiny_encoder, built_index, monkeypatch, precision):
    monkeypatch.setenv("VIDSEEK_TEXT_PRECISION", precision)
    settings = Settings(index_dir=built_index)
    assert settings.text_precision == precision
    service = VidseekService(settings, encoder=_tiny_encoder, query_engine="torch")  # torch's own bfloat16 and int8
    assert text_precision(service.text_encoder) == precision and service.queries.encoder is service.text_encoder
    assert service.encoder is _tiny_encoder and text_precision(_tiny_encoder) == "float32"
    assert service.text_encoder.model.visual is _tiny_encoder.model.visual  # picture queries stay float, not copied
    hits, _ = service.search_text("red", 3)
    float32 = Settings(index_dir=built_index, text_precision="float32")
    float_service = VidseekService(float32, encoder=_tiny_encoder, query_engine="torch")
    assert float_service.text_encoder is _tiny_encoder
    float_hits, _ = float_service.search_text("red", 3)
    assert [h.segment.segment_id for h in hits] == [h.segment.segment_id for h in float_hits]
    np.testing.assert_allclose([h.score for h in hits], [h.score for h in float_hits], atol=0.02)
    default = VidseekService(float32, encoder=_tiny_encoder)  # auto: a float32 text tower runs in onnxruntime
    assert engine_label(default.text_encoder, "text") == ("onnxruntime", "float32")
    ort_hits, _ = default.search_text("red", 3)
    assert [h.segment.segment_id for h in ort_hits] == [h.segment.segment_id for h in float_hits]
    np.testing.assert_allclose([h.score for h in ort_hits], [h.score for h in float_hits], atol=1e-4)
    with pytest.raises(ValidationError):
        Settings(text_precision="float8")


def test_query_threads_leave_a_core_to_the_requests_by_default(monkeypatch):
    for cores, expected in ((1, 1), (2, 1), (16, 15)):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid, n=cores: set(range(n)))
        assert Settings().query_threads_or_default == expected
        assert Settings().scan_threads_or_default == cores  # a scan waits on memory: every core
    assert Settings(query_threads=3).query_threads_or_default == Settings(query_threads=3).scan_threads_or_default == 3
    with pytest.raises(ValidationError):
        Settings(query_threads=0)


def test_the_worker_runs_torch_with_its_own_thread_count(tiny_encoder):
    seen = []

    class Recording:
        dim = tiny_encoder.dim

        def encode_text(self, texts, template="{}"):
            seen.append(torch.get_num_threads())
            return tiny_encoder.encode_text(texts, template)

    class RecordingReader:
        def search_batch(self, queries, ks, offsets, min_scores):
            seen.append(("scan", torch.get_num_threads()))
            return [([], 0)] * len(queries)

    before = torch.get_num_threads()
    try:
        queries = QueryEncoder(Recording(), threads=1, scan_threads=2)
        queries.encode("one thread")
        queries.search(RecordingReader(), "then a scan", 5)
        queries.encode("one thread again")
        assert seen == [1, 1, ("scan", 2), 1]
        queries.close()
    finally:
        torch.set_num_threads(before)


def callers(queries: QueryEncoder, texts: list[str], after: float = 0.0) -> list[threading.Timer]:
    """One caller thread per text, each encoding it ``after`` seconds from now."""
    threads = [threading.Timer(after, queries.encode, args=(text,)) for text in texts]
    for t in threads:
        t.start()
    return threads


def join(threads) -> None:
    for t in threads:
        t.join(10)


# How the worker gathers a batch (see app/batching.py): it expects as many callers as came in during its last batch
# and waits for them at most half that batch's time (and GATHER_MAX_S, raised here so the batch's time decides).


def test_callers_coming_back_together_are_embedded_in_one_call(tiny_encoder, monkeypatch):
    monkeypatch.setattr(batching, "GATHER_MAX_S", 1.0)
    gated = GatedEncoder(tiny_encoder, delays=[0.8, 0.8])
    queries = QueryEncoder(gated)
    in_one_batch(queries, gated, [lambda i=i: queries.encode(f"first round {i}") for i in range(4)])  # 4 in 0.8 s
    started = time.monotonic()
    first = callers(queries, ["first back"])
    others = callers(queries, ["second", "third", "fourth"], after=0.05)
    join(first)
    waited = time.monotonic() - started
    join(others)
    assert sorted(gated.calls[-1]) == ["first back", "fourth", "second", "third"]
    assert waited < 0.4  # until the expected callers came, not until the deadline (half of 0.8 s)
    queries.close()


def test_a_lone_caller_never_waits(tiny_encoder, monkeypatch):
    monkeypatch.setattr(batching, "GATHER_MAX_S", 1.0)
    gated = GatedEncoder(tiny_encoder, delays=[1.0])
    gated.gate.set()
    queries = QueryEncoder(gated)
    queries.encode("warm up")  # a batch of one caller, in 1 s: had the worker waited, it would wait up to 0.5 s
    later = callers(queries, ["later"], after=0.2)
    queries.encode("alone")
    join(later)
    assert gated.calls == [["warm up"], ["alone"], ["later"]]
    queries.close()


def test_callers_that_do_not_come_are_waited_for_only_until_the_deadline(tiny_encoder, monkeypatch):
    monkeypatch.setattr(batching, "GATHER_MAX_S", 1.0)
    gated = GatedEncoder(tiny_encoder, delays=[0.2, 0.2])
    queries = QueryEncoder(gated)
    in_one_batch(queries, gated, [lambda i=i: queries.encode(f"round {i}") for i in range(8)])  # 8 in 0.2 s
    started = time.monotonic()
    queries.encode("the others left")  # waits for 7 more, at most 0.1 s
    assert 0.09 < time.monotonic() - started < 0.5
    assert gated.calls[-1] == ["the others left"]
    queries.close()


def test_the_worker_expects_the_callers_that_came_during_its_last_batch(tiny_encoder, monkeypatch):
    monkeypatch.setattr(batching, "GATHER_MAX_S", 1.0)
    gated = GatedEncoder(tiny_encoder, delays=[0.6])
    gated.gate.set()
    queries = QueryEncoder(gated)
    holder = callers(queries, ["hold the worker"])
    assert gated.entered.wait(10)
    queued = callers(queries, ["one", "two", "three"])  # come in while the worker embeds (0.6 s)
    late = callers(queries, ["four"], after=0.7)  # 0.1 s after that batch: within the 0.3 s the three then wait
    join(holder + queued + late)
    assert gated.calls[0] == ["hold the worker"]
    assert sorted(gated.calls[1]) == ["four", "one", "three", "two"]  # 1 + 3 expected: the three waited for a fourth
    queries.close()
