"""The exact flat search of a batch: float32 product, or a bfloat16 scan proven exact by re-scoring."""

from pathlib import Path

import numpy as np
import pytest
import torch

from indexer import IndexReader
from indexer.decoders.base import VideoInfo
from indexer.index_dir.flat_search import BF16_SCORE_ERROR, FlatScan
from indexer.index_dir.writer import IndexWriter
from indexer.pipeline.options import BuildOptions, manifest_for
from indexer.segment import plan_segments

DIM = 64


def publish(index_dir: Path, encoder, vectors: np.ndarray) -> Path:
    """A published flat index of ``vectors`` (100 segments a video), with catalog rows."""
    writer = IndexWriter(index_dir, manifest_for(encoder, BuildOptions(Path("/synthetic"), index_dir)), index_type="flat")
    for v, first in enumerate(range(0, len(vectors), 100)):
        count = min(100, len(vectors) - first)
        info = VideoInfo(count * 10.0, 25.0, 64, 64, "h264")
        writer.add_video(
            f"/synthetic/{v}.mp4", f"fp{v}", 1, info, plan_segments(count * 10.0, 10.0), vectors[first : first + count], []
        )
    writer.publish()
    return index_dir


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def clustered_index(_tiny_encoder, tmp_path_factory):
    """3000 vectors in 30 tight clusters: near the top, many scores lie close together."""
    rng = np.random.default_rng(0)
    centres = unit(rng.normal(size=(30, _tiny_encoder.dim)))
    vectors = unit(centres[rng.integers(0, 30, 3000)] + 0.15 * rng.normal(size=(3000, _tiny_encoder.dim)))
    return publish(tmp_path_factory.mktemp("clustered"), _tiny_encoder, vectors), vectors


def answers(reader: IndexReader, queries: np.ndarray, k: int, offset: int = 0, min_score=None):
    n = len(queries)
    return reader.search_batch(queries, [k] * n, [offset] * n, [min_score] * n)


def assert_same(got, expected):
    for (hits, total), (want_hits, want_total) in zip(got, expected):
        assert [i for i, _ in hits] == [i for i, _ in want_hits]
        np.testing.assert_allclose([s for _, s in hits], [s for _, s in want_hits], atol=1e-5)
        assert total == want_total


@pytest.mark.parametrize(("k", "offset"), [(1, 0), (8, 0), (20, 40), (300, 0)])
def test_bfloat16_scan_answers_exactly_as_the_float32_one(clustered_index, k, offset):
    index_dir, vectors = clustered_index
    rng = np.random.default_rng(k)
    queries = np.concatenate(
        [
            unit(vectors[rng.integers(0, 3000, 12)] + 0.05 * rng.normal(size=(12, vectors.shape[1]))),
            unit(rng.normal(size=(4, vectors.shape[1]))),
        ]
    )
    exact, fast = IndexReader(index_dir, bf16_scan=False), IndexReader(index_dir, bf16_scan=True)
    assert_same(answers(fast, queries, k, offset), answers(exact, queries, k, offset))
    assert_same(answers(fast, queries[:1], k, offset), answers(exact, queries[:1], k, offset))  # a lone query too
    assert_same([fast.search(q, k, offset) for q in queries[:3]], answers(exact, queries[:3], k, offset))
    # Scores of the float32 product also agree with FAISS's own search.
    assert_same(answers(exact, queries[:3], k, offset), [exact.search(q, k, offset) for q in queries[:3]])


def test_rows_the_bfloat16_scan_cannot_prove_go_to_the_float32_scan(_tiny_encoder, tmp_path):
    # 600 near-copies of one vector: for a query along it, hundreds of scores lie within the rounding bound of
    # each other, so the pool's best cannot be proven; a random query far from them can be.
    rng = np.random.default_rng(1)
    base = unit(rng.normal(size=(1, _tiny_encoder.dim)))
    vectors = np.concatenate(
        [unit(base + 0.02 * rng.normal(size=(600, _tiny_encoder.dim))), unit(rng.normal(size=(400, _tiny_encoder.dim)))]
    )
    reader = IndexReader(publish(tmp_path / "ties", _tiny_encoder, vectors), bf16_scan=True)
    queries = np.concatenate([base, unit(rng.normal(size=(1, _tiny_encoder.dim)))])
    _, _, proven = FlatScan.of_index(reader.index, bf16=True).bf16_top(queries, 8)
    assert proven.tolist() == [False, True]
    assert_same(answers(reader, queries, 8), answers(IndexReader(reader.root, bf16_scan=False), queries, 8))


def test_min_score_counts_stay_exact_with_the_bfloat16_scan(clustered_index):
    index_dir, vectors = clustered_index
    queries = vectors[:5]
    fast, exact = IndexReader(index_dir, bf16_scan=True), IndexReader(index_dir, bf16_scan=False)
    got = answers(fast, queries, 10, 0, 0.5)
    assert_same(got, answers(exact, queries, 10, 0, 0.5))
    assert_same(got, [exact.search(q, 10, 0, 0.5) for q in queries])  # FAISS's range search counts the same
    assert all(total >= 1 for _, total in got)


def test_bfloat16_scores_stay_within_the_bound(clustered_index):
    _, vectors = clustered_index
    rng = np.random.default_rng(2)
    scaled = torch.from_numpy(vectors * rng.uniform(0.5, 2.0, size=(len(vectors), 1)).astype(np.float32))
    queries = torch.from_numpy(unit(rng.normal(size=(16, vectors.shape[1]))) * 1.7)
    error = ((queries.to(torch.bfloat16) @ scaled.to(torch.bfloat16).T).float() - queries @ scaled.T).abs()
    bound = BF16_SCORE_ERROR * queries.norm(dim=1, keepdim=True) * scaled.norm(dim=1)
    assert (error <= bound).all()
    assert error.max() > bound.max() / 100  # the scan really rounds: the bound is not vacuous
