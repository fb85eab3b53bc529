"""Filtered vector search: each query searches only its allowed segment ids, so its hits are the true top among them.

A flat store must answer exactly as brute force over the allowed vectors (ids, scores, totals); HNSW and IVF-PQ,
built as the indexer builds them (indexer/index_dir/ann.py), must find the allowed top 10 with recall >= 0.95 and
never return an id outside the allowed set. The ids are scattered and stored out of order, so a search that confused
vector rows with segment ids would show foreign ids.
"""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from indexer.index_dir import flat_search
from indexer.index_dir.ann import build_search_index, tune_for_search
from indexer.index_dir.flat_search import VectorSearch

N = 20_000
FRACTIONS = [0.5, 0.05, 0.001, 0.0]  # the part of the index a filter allows


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def store_of(vectors: np.ndarray, seed: int) -> tuple[faiss.IndexIDMap2, np.ndarray]:
    """The canonical flat store of ``vectors`` under scattered ids, added in no particular order."""
    ids = np.random.default_rng(seed).permutation(3 * len(vectors))[: len(vectors)].astype(np.int64) + 5
    store = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
    store.add_with_ids(vectors, ids)
    return store, ids


def allowed_part(ids: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A random allowed set: sorted int64 ids, read-only like IndexReader.segment_ids gives."""
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(ids, int(round(fraction * len(ids))), replace=False)).astype(np.int64)
    chosen.setflags(write=False)
    return chosen


def brute_force(vectors, ids, allowed, query, k, offset=0, min_score=None):
    """The exact answer over the allowed vectors: (ids, scores) of ranks offset..offset+k, and the total."""
    rows = np.flatnonzero(np.isin(ids, allowed))
    scores = vectors[rows] @ query
    order = np.argsort(-scores, kind="stable")
    if min_score is not None:
        order = order[scores[order] >= np.float32(min_score)]
    page = order[offset : offset + k]
    return ids[rows[page]], scores[page], len(order)


@pytest.fixture(scope="module")
def flat_data():
    """20000 random unit vectors of 64 dimensions in a flat store, and 12 random queries."""
    rng = np.random.default_rng(0)
    vectors = unit(rng.normal(size=(N, 64)))
    store, ids = store_of(vectors, 1)
    return store, vectors, ids, unit(rng.normal(size=(12, 64)))


@pytest.fixture(scope="module")
def clustered():
    """20000 unit vectors of 16 dimensions around 200 centres (as embeddings cluster: IVF's probing relies on it;
    on uniform random vectors even its unfiltered recall@10 is ~0.6), and queries near data vectors."""
    rng = np.random.default_rng(2)
    centres = unit(rng.normal(size=(200, 16)))
    vectors = unit(centres[rng.integers(0, 200, N)] + 0.1 * rng.normal(size=(N, 16)))
    store, ids = store_of(vectors, 3)
    queries = unit(vectors[rng.integers(0, N, 40)] + 0.1 * rng.normal(size=(40, 16)))
    return store, vectors, ids, queries


@pytest.fixture(scope="module")
def approximate(clustered):
    """The HNSW and IVF-PQ search indexes of the clustered store, tuned as the server tunes them."""
    store = clustered[0]
    return {kind: VectorSearch(tune_for_search(build_search_index(store, kind))) for kind in ("hnsw", "ivfpq")}


def assert_same(answer, expected) -> None:
    """Two answers agree: the same ids and totals, scores up to float rounding (a lone query's product may round
    otherwise than a batch's)."""
    (hits, total), (want_hits, want_total) = answer, expected
    assert [i for i, _ in hits] == [i for i, _ in want_hits]
    np.testing.assert_allclose([s for _, s in hits], [s for _, s in want_hits], atol=1e-5)
    assert total == want_total


def search_all(search: VectorSearch, queries, allowed, k=10, offset=0, min_score=None):
    n = len(queries)
    return search.search_batch(queries, [k] * n, [offset] * n, [min_score] * n, [allowed] * n)


@pytest.mark.parametrize("bf16", [False, True])
@pytest.mark.parametrize("fraction", FRACTIONS)
def test_a_filtered_flat_search_is_brute_force_over_the_allowed(flat_data, fraction, bf16):
    store, vectors, ids, queries = flat_data
    search = VectorSearch(store, bf16_scan=bf16)
    allowed = allowed_part(ids, fraction, seed=int(fraction * 1000))
    for k, offset, min_score in [(10, 0, None), (10, 20, None), (1, 0, None), (50, 0, 0.25), (10, 5, 0.3)]:
        answers = search_all(search, queries, allowed, k, offset, min_score)
        alone = [search.search_batch(q[None], [k], [offset], [min_score], [allowed])[0] for q in queries[:2]]
        for query, (hits, total) in zip(queries, answers):
            want_ids, want_scores, want_total = brute_force(vectors, ids, allowed, query, k, offset, min_score)
            assert [i for i, _ in hits] == want_ids.tolist()
            np.testing.assert_allclose([s for _, s in hits], want_scores, atol=1e-5)
            assert total == (want_total if min_score is not None else len(allowed))
        for lone, batched in zip(alone, answers):  # a lone query is answered as in a batch
            assert_same(lone, batched)


def test_ids_the_index_does_not_hold_are_ignored(flat_data):
    store, vectors, ids, queries = flat_data
    held = allowed_part(ids, 0.01, seed=7)
    foreign = np.setdiff1d(np.arange(0, 3 * N + 100, dtype=np.int64), ids)[:500]
    unsorted = np.concatenate([held, foreign, held[:10]])[::-1].copy()  # out of order, repeated, writable
    [(hits, total)] = VectorSearch(store).search_batch(queries[:1], [20], [0], [None], [unsorted])
    assert total == len(held)
    assert [i for i, _ in hits] == brute_force(vectors, ids, held, queries[0], 20)[0].tolist()


@pytest.mark.parametrize("fraction", FRACTIONS)
@pytest.mark.parametrize("kind", ["hnsw", "ivfpq"])
def test_an_approximate_filtered_search_finds_the_allowed_top(clustered, approximate, kind, fraction):
    _, vectors, ids, queries = clustered
    allowed = allowed_part(ids, fraction, seed=11 + int(fraction * 1000))
    recall = recall_among(approximate[kind], vectors, ids, queries, allowed)
    if len(allowed):
        assert recall >= 0.95, f"{kind} recall@10 {recall:.3f} with {fraction:.1%} allowed"


@pytest.mark.parametrize("kind", ["hnsw", "ivfpq"])
def test_the_faiss_selector_search_keeps_recall_and_allowed_ids(clustered, approximate, kind, monkeypatch):
    # Forced onto FAISS's own filtered search (no exact scan of small sets): recall holds while the filter keeps
    # enough of the index, and even a selective filter returns only allowed ids.
    monkeypatch.setattr(flat_search, "EXACT_SUBSET_MAX", 0)
    monkeypatch.setattr(flat_search, "EXACT_SUBSET_FRACTION", 0.0)
    monkeypatch.setattr(flat_search, "EXACT_ROW_CODES", float("inf"))
    _, vectors, ids, queries = clustered
    for fraction, least in [(0.5, 0.95), (0.05, 0.95), (0.001, 0.0)]:
        allowed = allowed_part(ids, fraction, seed=21 + int(fraction * 1000))
        recall = recall_among(approximate[kind], vectors, ids, queries, allowed)
        assert recall >= least, f"{kind} recall@10 {recall:.3f} with {fraction:.1%} allowed"


def recall_among(search: VectorSearch, vectors, ids, queries, allowed) -> float:
    """Mean recall@10 against brute force over ``allowed``; asserts every hit is allowed and the totals."""
    allowed_set = set(allowed.tolist())
    recalls = []
    for query, (hits, total) in zip(queries, search_all(search, queries, allowed)):
        assert {i for i, _ in hits} <= allowed_set
        assert total == len(allowed)
        if not len(allowed):
            assert hits == []
            continue
        truth = brute_force(vectors, ids, allowed, query, 10)[0]
        recalls.append(len({i for i, _ in hits} & set(truth.tolist())) / len(truth))
    return float(np.mean(recalls)) if recalls else 1.0


@pytest.mark.parametrize("kind", ["hnsw", "ivfpq"])
def test_small_allowed_sets_are_scanned_exactly_on_an_approximate_index(clustered, approximate, kind):
    # A set below the exact-scan thresholds is scored over the index's own full vectors: brute force's answer,
    # and its min_score totals are exact counts.
    _, vectors, ids, queries = clustered
    allowed = allowed_part(ids, 0.05, seed=31)
    assert len(allowed) <= flat_search.EXACT_SUBSET_MAX
    for query, (hits, total) in zip(queries, search_all(approximate[kind], queries, allowed, 20, 0, 0.9)):
        want_ids, want_scores, want_total = brute_force(vectors, ids, allowed, query, 20, 0, 0.9)
        assert [i for i, _ in hits] == want_ids.tolist()
        np.testing.assert_allclose([s for _, s in hits], want_scores, atol=1e-5)
        assert total == want_total


@pytest.mark.parametrize("kind", ["flat", "flat-bf16", "hnsw", "ivfpq"])
def test_a_batch_mixing_filtered_and_unfiltered_rows_answers_each_row_as_alone(flat_data, clustered, approximate, kind):
    if kind.startswith("flat"):
        store, _, ids, queries = flat_data
        search = VectorSearch(store, bf16_scan=kind == "flat-bf16")
    else:
        _, _, ids, queries = clustered
        search = approximate[kind]
    large, small = allowed_part(ids, 0.5, seed=41), allowed_part(ids, 0.01, seed=42)
    empty = allowed_part(ids, 0.0, seed=43)
    rows = [  # (allowed, k, offset, min_score)
        (None, 10, 0, None),
        (large, 10, 0, None),
        (small, 5, 3, None),
        (None, 8, 4, 0.5),
        (large, 20, 0, 0.6),
        (small, 10, 0, 0.2),
        (empty, 10, 0, None),
        (small.copy(), 10, 0, None),  # the same ids in another (writable) array
    ]
    batch = search.search_batch(
        queries[: len(rows)], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows], [r[0] for r in rows]
    )
    for query, (allowed, k, offset, min_score), answer in zip(queries, rows, batch):
        assert_same(answer, search.search_batch(query[None], [k], [offset], [min_score], [allowed])[0])
    assert batch[6] == ([], 0)
    assert_same(batch[7], search.search_batch(queries[7:8], [10], [0], [None], [small])[0])
    assert len(batch[0][0]) == 10 and batch[0][1] == len(ids)  # unfiltered rows count every segment


def test_a_selective_filter_probes_more_lists_of_an_ivf_index(clustered, approximate, monkeypatch):
    # Forced onto the codes' filtered search, 0.5 % allowed (a twentieth of a cluster): the tuned 32 of 141 lists
    # meet too few allowed vectors, and probing nprobe x (2 % of n / allowed)^2 lists (capped at all) finds them.
    monkeypatch.setattr(flat_search, "EXACT_SUBSET_MAX", 0)
    monkeypatch.setattr(flat_search, "EXACT_ROW_CODES", float("inf"))
    _, vectors, ids, queries = clustered
    search, allowed = approximate["ivfpq"], allowed_part(ids, 0.005, seed=5)
    assert search.filtered_nprobe(len(allowed)) == search._ivf.nlist
    scaled = recall_among(search, vectors, ids, queries, allowed)
    monkeypatch.setattr(flat_search, "EXACT_SUBSET_FRACTION", 0.0)  # no scaling: the tuned nprobe
    assert search.filtered_nprobe(len(allowed)) == search._ivf.nprobe
    tuned = recall_among(search, vectors, ids, queries, allowed)
    assert scaled >= 0.95 and tuned < 0.9, (scaled, tuned)


@pytest.fixture(scope="module")
def wide_ivf():
    """300k 4-d vectors in 64 IVF lists (32 probed), with their exact vectors kept (IndexRefineFlat) and without."""
    vectors = unit(np.random.default_rng(4).normal(size=(300_000, 4)))
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(4), 4, 64, faiss.METRIC_INNER_PRODUCT)
    ivf.train(vectors[:20_000])
    refined = faiss.IndexRefineFlat(ivf)
    kept = faiss.IndexIDMap2(refined)
    kept.add_with_ids(vectors, np.arange(len(vectors), dtype=np.int64))
    ivf.nprobe = 32
    bare_ivf = faiss.IndexIVFFlat(ivf.quantizer, 4, 64, faiss.METRIC_INNER_PRODUCT)
    bare_ivf.is_trained, bare_ivf.nprobe = True, 32
    bare = faiss.IndexIDMap(bare_ivf)
    bare.add_with_ids(vectors, np.arange(len(vectors), dtype=np.int64))
    # The wrappers of the inner indexes go along: FAISS's outer ones do not own them, so they must outlive the tests.
    return VectorSearch(kept), VectorSearch(bare), (ivf, refined, bare_ivf)


@pytest.mark.parametrize(
    "allowed, with_vectors, without",
    [
        (1_000, None, 64),  # small: scanned exactly where the full vectors are kept; else all lists (scaled, capped)
        (2_100, None, 64),  # 32 x (6000 / 2100)^2 lists, capped at 64: all 300k codes > 128 x 2100, so exact
        (2_500, 64, 64),  # all lists again, but 300k codes <= 128 x 2500: cheaper than 2500 exact rows
        (5_000, 47, 47),  # 32 x 1.2^2 = 46.1
        (6_000, 32, 32),  # 2 % of the index and above: the tuned nprobe
        (150_000, 32, 32),
    ],
)
def test_how_many_lists_a_filtered_ivf_search_probes(wide_ivf, allowed, with_vectors, without):
    kept, bare, _ = wide_ivf
    assert kept.exact is not None and bare.exact is None
    assert kept.filtered_nprobe(allowed) == with_vectors
    assert bare.filtered_nprobe(allowed) == without


def test_hnsw_scans_small_or_selective_sets_exactly(approximate):
    search = approximate["hnsw"]  # 20k vectors: 2 % is 400, below the 2048 floor
    assert search.filtered_nprobe(2048) is None and search.filtered_nprobe(2049) == 0
