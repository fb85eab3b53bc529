"""IVF-PQ's memory-mapped float16 re-ranking store: as good as the in-memory float32 re-rank, memory-mapped rather than
loaded, exact among the allowed segments of a filter, and kept in step with the vectors by every publish."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import faiss
import numpy as np
import pytest

from indexer import Manifest, open_index
from indexer.decoders.base import VideoInfo
from indexer.errors import IndexNotFoundError
from indexer.index_dir import ann, flat_search
from indexer.index_dir.ann import PQ_REFINE, build_search_index, tune_for_search
from indexer.index_dir.flat_search import VectorSearch
from indexer.index_dir.layout import RERANK, current_generation
from indexer.index_dir.rerank import RerankStore, open_rerank_store, write_rerank_store
from indexer.index_dir.writer import IndexWriter

N, D = 30_000, 64


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data():
    """Clustered unit vectors under scattered ids in a canonical store, and queries near data vectors."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(300, D))
    vectors = unit(centres[rng.integers(0, 300, N)] + 0.5 * rng.normal(size=(N, D)))
    ids = rng.permutation(3 * N)[:N].astype(np.int64) + 7
    store = faiss.IndexIDMap2(faiss.IndexFlatIP(D))
    store.add_with_ids(vectors, ids)
    queries = unit(vectors[rng.integers(0, N, 100)] + 0.05 * rng.normal(size=(100, D)))
    return store, vectors, ids, queries


@pytest.fixture(scope="module")
def searches(data, tmp_path_factory):
    """The IVF-PQ index of ``data`` twice: re-ranked from float32 vectors in memory, and codes only written to disk,
    read back and re-ranked from the memory-mapped float16 store, as the server opens it."""
    store = data[0]
    folder = tmp_path_factory.mktemp("rerank")
    small_codes = {"pq_m": 16}  # 4 dimensions a sub-quantizer: quicker to train than the 1 of 64 here
    in_memory = VectorSearch(tune_for_search(build_search_index(store, "ivfpq", refine="flat", **small_codes)))
    codes_only = build_search_index(store, "ivfpq", folder=folder, refine="float16", **small_codes)
    faiss.write_index(codes_only, str(folder / "search.faiss"))
    index = tune_for_search(faiss.read_index(str(folder / "search.faiss")))
    mapped = VectorSearch(index, rerank=open_rerank_store(folder / RERANK, N, PQ_REFINE))
    return in_memory, mapped


def recall(search: VectorSearch, queries, truth, allowed=None) -> float:
    n = len(queries)
    answers = search.search_batch(queries, [10] * n, [0] * n, [None] * n, None if allowed is None else [allowed] * n)
    return float(np.mean([len({i for i, _ in hits} & set(t.tolist())) / len(t) for (hits, _), t in zip(answers, truth)]))


def brute_force(vectors, ids, queries, k=10, allowed=None):
    rows = np.arange(len(ids)) if allowed is None else np.flatnonzero(np.isin(ids, allowed))
    scores = queries @ vectors[rows].T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return ids[rows[order]], np.take_along_axis(scores, order, axis=1)


def test_the_float16_rerank_recalls_as_the_float32_one(data, searches):
    store, vectors, ids, queries = data
    in_memory, mapped = searches
    truth, _ = brute_force(vectors, ids, queries)
    exact, approx = recall(in_memory, queries, truth), recall(mapped, queries, truth)
    assert exact >= 0.9 and abs(approx - exact) <= 0.01, (exact, approx)
    assert faiss.downcast_index(mapped.index.index).__class__ is faiss.IndexIVFPQ  # codes only: no vectors in RAM


def test_scores_are_float32_products_of_the_float16_vectors(data, searches):
    _, vectors, ids, queries = data
    rounded = vectors.astype(np.float16).astype(np.float32)
    by_id = dict(zip(ids.tolist(), range(N)))
    for query, (hits, total) in zip(queries[:10], searches[1].search_batch(queries[:10], [10] * 10, [0] * 10, [None] * 10)):
        assert total == N and len(hits) == 10
        for segment_id, score in hits:
            assert score == pytest.approx(float(rounded[by_id[segment_id]] @ query), abs=1e-6)
            assert score == pytest.approx(float(vectors[by_id[segment_id]] @ query), abs=2.0**-11)


def test_small_allowed_sets_are_scanned_exactly_and_large_ones_stay_allowed(data, searches, monkeypatch):
    _, vectors, ids, queries = data
    rounded = vectors.astype(np.float16).astype(np.float32)
    mapped = searches[1]
    rng = np.random.default_rng(5)
    small = np.sort(rng.choice(ids, 500, replace=False))
    small.setflags(write=False)
    n = len(queries)
    answers = mapped.search_batch(queries, [20] * n, [0] * n, [0.3] * n, [small] * n)
    want_ids, want_scores = brute_force(rounded, ids, queries, 20, small)
    for (hits, total), want, scores, query in zip(answers, want_ids, want_scores, queries):
        kept = want[scores >= np.float32(0.3)]
        assert [i for i, _ in hits] == kept.tolist()  # the allowed top, exactly, over the stored vectors
        np.testing.assert_allclose([s for _, s in hits], scores[: len(kept)], atol=1e-6)
        assert total == int((rounded[np.isin(ids, small)] @ query >= np.float32(0.3)).sum())
    monkeypatch.setattr(flat_search, "EXACT_SUBSET_MAX", 0)  # through the codes' filtered search instead
    monkeypatch.setattr(flat_search, "EXACT_SUBSET_FRACTION", 0.0)
    monkeypatch.setattr(flat_search, "EXACT_ROW_CODES", float("inf"))
    large = np.sort(rng.choice(ids, N // 2, replace=False))
    large.setflags(write=False)
    truth, _ = brute_force(vectors, ids, queries, 10, large)
    assert recall(mapped, queries, truth, large) >= 0.95
    answers = mapped.search_batch(queries, [10] * n, [0] * n, [None] * n, [large] * n)
    assert all({i for i, _ in hits} <= set(large.tolist()) and total == len(large) for hits, total in answers)


def test_a_selective_filter_probes_more_lists_before_the_rerank(data, searches, monkeypatch):
    # 1 % allowed, forced onto the codes' filtered search: the candidates the float16 store re-scores come from
    # nprobe x (2 % / 1 %)^2 = 128 lists, not the tuned 32, and find the allowed top 10.
    monkeypatch.setattr(flat_search, "EXACT_SUBSET_MAX", 0)
    monkeypatch.setattr(flat_search, "EXACT_ROW_CODES", float("inf"))
    _, vectors, ids, queries = data
    mapped = searches[1]
    allowed = np.sort(np.random.default_rng(6).choice(ids, N // 100, replace=False))
    allowed.setflags(write=False)
    truth, _ = brute_force(vectors, ids, queries, 10, allowed)
    assert mapped.filtered_nprobe(len(allowed)) == 4 * ann.IVF_NPROBE
    scaled = recall(mapped, queries, truth, allowed)
    monkeypatch.setattr(flat_search, "EXACT_SUBSET_FRACTION", 0.0)
    tuned = recall(mapped, queries, truth, allowed)
    assert scaled >= 0.95 and tuned < 0.9, (scaled, tuned)


def test_the_store_is_memory_mapped_not_read(tmp_path):
    rows, dim = 400_000, 256  # 200 MB of float16
    vectors = np.random.default_rng(0).standard_normal((rows, dim)).astype(np.float32) / 16
    write_rerank_store(tmp_path / RERANK, vectors, rows=50_000)
    np.testing.assert_array_equal(np.load(tmp_path / RERANK, mmap_mode="r")[::997], vectors[::997].astype(np.float16))
    del vectors
    code = f"""
import os
import numpy as np
from indexer.index_dir.rerank import open_rerank_store
def rss():
    fields = dict(line.split(":") for line in open("/proc/self/status"))
    return [int(fields[name].split()[0]) * 1024 for name in ("VmRSS", "RssAnon")]
path = {str(tmp_path / RERANK)!r}
fd = os.open(path, os.O_RDONLY)
os.fsync(fd)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # out of the page cache, as after a reboot
store = open_rerank_store(path, {rows}, 32)
queries = np.random.default_rng(1).standard_normal((10, {dim})).astype(np.float32)
store.rescore(queries[:1], np.zeros((1, 320), np.int64), 10)  # torch's first product allocates its own
before = rss()
store.rescore(queries, np.random.default_rng(2).integers(0, {rows}, (10, 320)), 10)
print(isinstance(store.vectors, np.memmap), *[a - b for a, b in zip(rss(), before)])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "True"
    resident, anonymous = int(out[1]), int(out[2])
    assert resident < 32 * 2**20  # the pages of 3,200 rows (<= 13 MB), not the 200 MB file
    assert anonymous < 16 * 2**20  # the rows gathered (3 MB of float32), no copy of the store


def test_vectors_beyond_float16_are_refused(tmp_path):
    with pytest.raises(ValueError, match="float16"):
        write_rerank_store(tmp_path / RERANK, np.full((3, 4), 1e6, np.float32))
    with pytest.raises(ValueError, match="float16"):
        RerankStore(np.zeros((3, 4), np.float32), 32)


@dataclass
class Span:
    start: float
    end: float


def build(root, videos: dict[str, np.ndarray], remove: tuple[str, ...] = ()) -> None:
    """Publish ``videos`` (path -> its segments' vectors) into ``root`` as IVF-PQ, removing ``remove`` first."""
    dim = next(iter(videos.values())).shape[1]
    manifest = Manifest(
        model="m", pretrained="none", weights_fingerprint="w", dim=dim, frames=2, segment_seconds=1, preprocess={}
    )
    writer = IndexWriter(root, manifest, index_type="ivfpq")
    known = writer.known_videos()
    for path in remove:
        writer.remove_video(known[path])
    info = VideoInfo(1.0, 25.0, 64, 48, "h264")
    for path, vectors in videos.items():
        spans = [Span(float(i), float(i + 1)) for i in range(len(vectors))]
        writer.add_video(path, f"{path}:1", 1, info, spans, vectors, [b""] * len(vectors))
    writer.publish()


def test_a_published_index_keeps_its_store_in_step(tmp_path, monkeypatch):
    monkeypatch.setattr(ann, "RERANK_IN_MEMORY_MAX", 0)  # a small library served as a large one is
    rng = np.random.default_rng(9)
    centres = rng.normal(size=(100, 8))  # 8 dimensions: 8 one-dimension sub-quantizers, quick to train
    vectors = unit(centres[rng.integers(0, 100, 16_000)] + 0.3 * rng.normal(size=(16_000, 8)))
    queries = unit(vectors[rng.integers(0, 16_000, 50)] + 0.05 * rng.normal(size=(50, 8)))
    root = tmp_path / "index"
    parts = {f"/v/{i}.mp4": vectors[i * 4000 : (i + 1) * 4000] for i in range(4)}
    build(root, dict(list(parts.items())[:3]))
    build(root, {"/v/3.mp4": parts["/v/3.mp4"]}, remove=("/v/0.mp4",))  # an incremental build: one in, one out
    generation = current_generation(root)
    reader = open_index(root, bf16_scan=False)
    assert reader.manifest.extra["ann"]["refine"] == "float16" and reader.count == 12_000
    assert isinstance(reader._search.rerank.vectors, np.memmap) and len(reader._search.rerank) == 12_000
    kept = np.concatenate([parts[p] for p in ("/v/1.mp4", "/v/2.mp4", "/v/3.mp4")])
    segments = sorted(s.segment_id for v in reader.video_records() for s in reader.video_segments(v.video_id))
    ids = np.array(segments, np.int64)  # the catalog numbers segments in the order they were added
    for segment_id, vector in [(ids[0], kept[0]), (ids[-1], kept[-1])]:
        np.testing.assert_array_equal(reader.segment_vector(segment_id), vector.astype(np.float16).astype(np.float32))
    assert reader.segment_vector(int(ids[0]) - 1) is None  # /v/0.mp4's last segment: removed
    truth, _ = brute_force(kept, ids, queries)
    answers = reader.search_batch(queries, [10] * len(queries), [0] * len(queries), [None] * len(queries))
    assert np.mean([len({i for i, _ in h} & set(t.tolist())) / 10 for (h, _), t in zip(answers, truth)]) >= 0.9
    reader.close()
    (generation / RERANK).unlink()
    with pytest.raises(IndexNotFoundError, match="rebuild"):
        open_index(root)
