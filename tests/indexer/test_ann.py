"""Approximate indexes: IVF-PQ's recall, which re-ranking store it gets, and its training on the GPU (which device
trains, and that a build through the GPU plumbing saves the same CPU index).

Without a GPU the plumbing still runs: FAISS is told it has one and "copies" the clustering index to it by
returning the CPU index unchanged, so everything but the device itself is exercised here."""

from __future__ import annotations

import logging

import faiss
import numpy as np
import pytest

from indexer.index_dir.ann import GpuUnavailableError, build_search_index, gpu_clustering_index, gpu_count, tune_for_search


@pytest.fixture(scope="module")
def store():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(100, 16))
    x = (centres[rng.integers(0, 100, 12_000)] + 0.4 * rng.normal(size=(12_000, 16))).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    store = faiss.IndexIDMap2(faiss.IndexFlatIP(16))
    store.add_with_ids(x, np.arange(12_000, dtype=np.int64) * 5)
    return store


@pytest.fixture()
def fake_gpus(monkeypatch):
    """FAISS reports two GPUs; the indexes "copied" to them stay on the CPU and are recorded."""
    copied = []

    def index_cpu_to_all_gpus(index, co=None, ngpu=-1):
        copied.append(index)
        return index

    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 2, raising=False)
    monkeypatch.setattr(faiss, "index_cpu_to_all_gpus", index_cpu_to_all_gpus, raising=False)
    return copied


def centroids(index):
    quantizer = faiss.extract_index_ivf(index).quantizer
    return quantizer.reconstruct_n(0, quantizer.ntotal)


def search(index, store, n=200):
    queries = store.index.reconstruct_n(0, n) + np.float32(0.05)
    return tune_for_search(index).search(queries, 10)


def test_ivfpq_search_index_recall(store):
    x = store.index.reconstruct_n(0, store.ntotal)
    index = tune_for_search(build_search_index(store, "ivfpq"))
    queries = x[:50] + 0.05 * np.random.default_rng(1).normal(size=(50, 16)).astype(np.float32)
    _, exact = store.search(queries, 10)
    _, approx = index.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(approx, exact)])
    assert recall >= 0.9
    np.testing.assert_allclose(index.reconstruct(35), x[7], atol=1e-6)


def test_no_gpu_trains_on_the_cpu(monkeypatch, store, caplog):
    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 0, raising=False)
    assert gpu_count() == 0
    assert gpu_clustering_index(16) is None and gpu_clustering_index(16, gpu=False) is None
    with pytest.raises(GpuUnavailableError):
        gpu_clustering_index(16, gpu=True)
    with caplog.at_level(logging.INFO, logger="indexer.index_dir.ann"):
        build_search_index(store, "ivfpq")
    assert "k-means on the CPU" in caplog.text


def test_a_faiss_without_get_num_gpus_has_no_gpu(monkeypatch):
    monkeypatch.delattr(faiss, "get_num_gpus", raising=False)
    assert gpu_count() == 0 and gpu_clustering_index(16) is None


def test_gpu_clustering_index_is_a_flat_inner_product_copy(fake_gpus):
    clustering = gpu_clustering_index(16)
    assert fake_gpus == [clustering]
    assert isinstance(clustering, faiss.IndexFlatIP) and clustering.d == 16 and clustering.ntotal == 0
    assert gpu_clustering_index(16, gpu=False) is None and len(fake_gpus) == 1


def test_build_through_the_gpu_plumbing_saves_the_cpu_index(fake_gpus, store, caplog):
    plain = build_search_index(store, "ivfpq", gpu=False)
    assert fake_gpus == []
    with caplog.at_level(logging.INFO, logger="indexer.index_dir.ann"):
        via_gpu = build_search_index(store, "ivfpq")
    assert "k-means on 2 GPU(s)" in caplog.text
    (clustering,) = fake_gpus
    ivf = faiss.extract_index_ivf(via_gpu)
    assert clustering.ntotal == ivf.nlist  # k-means assigned with it: it holds the final centroids
    assert ivf.clustering_index is None  # no pointer left to an index that is about to be freed
    assert isinstance(faiss.downcast_index(ivf.quantizer), faiss.IndexFlatIP)
    np.testing.assert_allclose(centroids(via_gpu), centroids(plain), atol=1e-6)
    np.testing.assert_allclose(centroids(via_gpu), clustering.reconstruct_n(0, clustering.ntotal), atol=1e-6)
    saved = faiss.deserialize_index(faiss.serialize_index(via_gpu))
    _, expected = search(plain, store)
    _, found = search(saved, store)
    np.testing.assert_array_equal(found, expected)


def test_gpu_false_trains_on_the_cpu_even_with_gpus(fake_gpus, store, caplog):
    with caplog.at_level(logging.INFO, logger="indexer.index_dir.ann"):
        build_search_index(store, "ivfpq", gpu=False)
    assert fake_gpus == [] and "k-means on the CPU" in caplog.text


@pytest.mark.gpu
@pytest.mark.skipif(gpu_count() == 0, reason="needs a CUDA build of FAISS and a GPU (faiss-gpu)")
def test_gpu_training_on_a_real_gpu(store):
    on_gpu = build_search_index(store, "ivfpq", gpu=True)
    on_cpu = build_search_index(store, "ivfpq", gpu=False)
    saved = faiss.deserialize_index(faiss.serialize_index(on_gpu))  # a plain CPU index: what the server loads
    assert faiss.extract_index_ivf(saved).clustering_index is None
    queries = store.index.reconstruct_n(0, 200) + np.float32(0.05)
    _, exact = store.search(queries, 10)
    for index in (saved, on_cpu):
        _, found = tune_for_search(index).search(queries, 10)
        assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact)]) >= 0.9


def test_ivfpq_reranks_from_the_float16_file_once_float32_vectors_would_not_fit():
    from indexer.index_dir.ann import RERANK_IN_MEMORY_MAX, index_params

    fits = RERANK_IN_MEMORY_MAX // (512 * 4)
    assert index_params("ivfpq", fits, 512)["refine"] == "flat"  # bit-exact scores while the vectors are small
    assert index_params("ivfpq", fits + 1, 512)["refine"] == "float16"
    assert index_params("ivfpq", 10_000_000, 512)["refine"] == "float16"
    assert index_params("ivfpq", 1_000_000, 512)["k_factor"] == 32  # recall@10 0.993 at 1M
    assert index_params("ivfpq", 10_000_000, 512)["k_factor"] == 64  # 32 gave 0.947 at 10M, 64 0.995


def test_a_float16_store_needs_a_folder_to_be_written_to(store):
    with pytest.raises(ValueError, match="folder"):
        build_search_index(store, "ivfpq", refine="float16")
