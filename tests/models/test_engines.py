"""The towers exported to ONNX and run by ONNX Runtime and OpenVINO: vectors against the float32 torch ones, the
export cache, the choice of engine, and retrieval of a fine-tuned model unchanged."""

import logging
import os

import numpy as np
import pytest
import torch

from indexer.synth import all_single_object_clips, render_clip
from models import load_encoder
from models.encoder import native_bfloat16
from models.engines import EngineEncoder, EngineError, EngineUnavailableError, engine_encoder, engine_label, ort, ov
from models.engines.export import graph_cache_dir
from models.evaluate import embed_clips, embed_texts
from models.finetune import FinetuneOptions, finetune
from models.metrics import retrieval_metrics

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

WORDS = "a man woman dog cat car street beach dancing running cooking red blue green night snow city river".split()
BACKENDS = [ort.ENGINE] + ([ov.ENGINE] if ov.available() else [])


def captions(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 12)))) for _ in range(n)]


@pytest.fixture(scope="module")
def synthetic_clips():
    """The synthetic benchmark's clips (indexer/synth.py): one of each object, 8 frames of 96 px."""
    clips = [render_clip(clip, seed)[::2][:8] for seed, clip in enumerate(all_single_object_clips()[:24])]
    assert all(c.shape == (8, 96, 96, 3) for c in clips)
    return clips


@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    """The tiny model and one cache folder for its graphs, shared by the module (an export takes seconds)."""
    return load_encoder("vidseek-tiny", "none", "cpu"), tmp_path_factory.mktemp("engines")


def cosines(a, b):
    return np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.parametrize("engine", BACKENDS)
@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_engine_vectors_match_float32_torch(graphs, synthetic_clips, engine, precision):
    encoder, cache = graphs
    floor = 0.9999 if precision == "float32" else 0.995
    image = engine_encoder(encoder, engine, precision, "image", cache, calibration=synthetic_clips)
    text = engine_encoder(encoder, engine, precision, "text", cache)
    assert isinstance(image, EngineEncoder) and engine_label(image) == (engine, precision)
    assert engine_label(text, "text") == (engine, precision)
    videos = cosines(image.encode_videos(synthetic_clips), encoder.encode_videos(synthetic_clips))
    texts = captions()
    words = cosines(text.encode_text(texts), encoder.encode_text(texts))
    assert videos.shape == (24,) and words.shape == (300,)
    assert videos.min() >= floor and words.min() >= floor, (videos.min(), words.min())
    if precision == "int8":
        assert videos.mean() < 1 - 1e-6 and words.mean() < 1 - 1e-6  # int8 kernels really ran
    np.testing.assert_allclose(np.linalg.norm(image.encode_videos(synthetic_clips[:3]), axis=1), 1.0, atol=1e-5)
    # The other tower stays torch's: an image encoder embeds texts as the model does, and the other way round.
    np.testing.assert_array_equal(image.encode_text(texts[:4]), encoder.encode_text(texts[:4]))
    np.testing.assert_array_equal(text.encode_videos(synthetic_clips[:2]), encoder.encode_videos(synthetic_clips[:2]))


@pytest.mark.skipif(not (ov.available() and native_bfloat16()), reason="needs openvino and a CPU with native bfloat16")
def test_openvino_bfloat16_stays_close(graphs, synthetic_clips):
    encoder, cache = graphs
    image = engine_encoder(encoder, ov.ENGINE, "bfloat16", "image", cache)
    assert cosines(image.encode_videos(synthetic_clips), encoder.encode_videos(synthetic_clips)).min() >= 0.999


def test_fusions_and_empty_batches(graphs, synthetic_clips):
    encoder, cache = graphs
    image = engine_encoder(encoder, ort.ENGINE, "float32", "image", cache)
    for fusion in ("embedding", "decision", "image"):
        ours, reference = image.encode_videos(synthetic_clips[:3], fusion), encoder.encode_videos(synthetic_clips[:3], fusion)
        assert cosines(ours, reference).min() >= 0.9999
    assert image.encode_videos([]).shape == (0, encoder.dim)
    text = engine_encoder(encoder, ort.ENGINE, "float32", "text", cache)
    assert text.encode_text([]).shape == (0, encoder.dim)
    long = " ".join(["river"] * 100)  # past the context: cut as the tokenizer cuts it
    assert cosines(text.encode_text([long, "x"]), encoder.encode_text([long, "x"])).min() >= 0.9999


def test_runtime_follows_torch_threads(graphs, synthetic_clips):
    encoder, cache = graphs
    image = engine_encoder(encoder, ort.ENGINE, "float32", "image", cache)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = image.encode_videos(synthetic_clips[:2])
        torch.set_num_threads(2)
        two = image.encode_videos(synthetic_clips[:2])
    finally:
        torch.set_num_threads(before)
    assert set(image.image_graph._runners) >= {1, 2}
    np.testing.assert_allclose(one, two, atol=1e-5)


def test_graphs_are_exported_once_per_fingerprint(tmp_path, monkeypatch):
    from models.engines import export

    encoder = load_encoder("vidseek-tiny", "none", "cpu")
    engine_encoder(encoder, ort.ENGINE, "float32", "image", tmp_path)
    folder = graph_cache_dir(encoder, tmp_path)
    (graph,) = folder.glob("image.float32.*.onnx")
    assert folder.parent == tmp_path and not list(folder.glob("*.tmp"))
    assert graph.stat().st_mode & 0o044 == 0o044 & ~_umask()  # as readable as any file made here
    monkeypatch.setattr(export, "export_tower", lambda *a: pytest.fail("exported again"))
    engine_encoder(encoder, ort.ENGINE, "float32", "image", tmp_path)  # from the cache


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_graphs_of_a_weights_file_are_kept_beside_it(tmp_path):
    weights = tmp_path / "weights" / "tiny.pt"
    weights.parent.mkdir()
    torch.save(load_encoder("vidseek-tiny", "none", "cpu").model.state_dict(), weights)
    encoder = load_encoder("vidseek-tiny", str(weights), "cpu")
    folder = graph_cache_dir(encoder, tmp_path / "user-cache")
    assert folder.parent == weights.parent / "tiny.pt.vidseek-engines"
    other = load_encoder("vidseek-tiny", "none", "cpu")
    assert graph_cache_dir(other, tmp_path / "user-cache").parent == tmp_path / "user-cache"
    assert folder.name != graph_cache_dir(other, tmp_path / "user-cache").name  # keyed by the fingerprint


def test_auto_falls_back_to_torch_without_the_package(graphs, monkeypatch, caplog):
    encoder, cache = graphs
    monkeypatch.setattr(ort, "available", lambda: False)
    monkeypatch.setattr(ov, "available", lambda: False)
    with caplog.at_level(logging.WARNING, logger="models.engines"):
        chosen = engine_encoder(encoder, "auto", "float32", "image", cache)
    assert engine_label(chosen) == ("torch", "float32") and "would be faster" in caplog.text
    with pytest.raises(EngineUnavailableError, match=r"pip install 'vidseek\[cpu\]'"):
        engine_encoder(encoder, ort.ENGINE, "float32", "image", cache)
    with pytest.raises(EngineUnavailableError, match="no installed engine"):
        engine_encoder(encoder, "auto", "int8", "image", cache)


def test_auto_picks_an_engine_for_float32_and_int8(graphs, synthetic_clips):
    encoder, cache = graphs
    assert engine_label(engine_encoder(encoder, "auto", "float32", "image", cache))[0] == ort.ENGINE
    int8 = engine_encoder(encoder, "auto", "int8", "image", cache, calibration=synthetic_clips)
    assert engine_label(int8) == (ov.ENGINE if ov.available() else ort.ENGINE, "int8")
    for precision in ("float32", "int8"):  # queries: onnxruntime, measured 2-3x torch for a batch of 8
        assert engine_label(engine_encoder(encoder, "auto", precision, "text", cache), "text") == (ort.ENGINE, precision)
    bf16 = engine_encoder(encoder, "auto", "bfloat16", "text", cache) if native_bfloat16() else None
    assert bf16 is None or engine_label(bf16, "text") == ("torch", "bfloat16")


def test_auto_falls_back_to_torch_when_an_export_fails(graphs, monkeypatch, caplog):
    import models.engines as engines

    def broken(*_):
        raise RuntimeError("the exporter met an operator it cannot write")

    encoder, cache = graphs
    monkeypatch.setattr(engines, "float_graph", broken)
    with caplog.at_level(logging.WARNING, logger="models.engines"):
        chosen = engine_encoder(encoder, "auto", "float32", "text", cache)
    assert engine_label(chosen, "text") == ("torch", "float32") and chosen is encoder
    assert "its onnxruntime graph failed (RuntimeError: the exporter met" in caplog.text
    with pytest.raises(RuntimeError, match="cannot write"):  # asked for by name: the failure is the answer
        engine_encoder(encoder, ort.ENGINE, "float32", "text", cache)
    with pytest.raises(RuntimeError, match="cannot write"):  # torch has no int8 image tower to fall back to
        engine_encoder(encoder, "auto", "int8", "image", cache, calibration=[np.zeros((2, 8, 8, 3), np.uint8)])


def test_what_an_engine_cannot_run(graphs, tiny_encoder):
    encoder, cache = graphs
    with pytest.raises(EngineError, match="float32, int8"):
        engine_encoder(encoder, ort.ENGINE, "bfloat16", "image", cache)
    with pytest.raises(EngineError, match="torch runs the image tower in float32, bfloat16"):
        engine_encoder(encoder, "torch", "int8", "image", cache)
    with pytest.raises(EngineError, match="calibrated on frames"):
        engine_encoder(encoder, ort.ENGINE, "int8", "image", cache, calibration=[])
    with pytest.raises(ValueError, match="unknown engine"):
        engine_encoder(encoder, "tensorrt", "float32", "image", cache)
    tiny_encoder.device = "cuda"
    with pytest.raises(EngineError, match="run on CPU"):
        engine_encoder(tiny_encoder, ort.ENGINE, "float32", "image", cache)


def colour_set(seed, frames=2, size=64):
    """One noisy clip per colour, captioned by its colour: ``seed`` 0 trains, other seeds are held out."""
    colours = {"red": (230, 20, 20), "green": (20, 200, 40), "blue": (20, 40, 230), "yellow": (240, 230, 20),
               "white": (250, 250, 250), "black": (5, 5, 5), "purple": (150, 40, 190), "orange": (250, 140, 20)}  # fmt: skip
    rng = np.random.default_rng(seed)
    clips = [np.clip(np.full((frames, size, size, 3), rgb) + rng.integers(-20, 21, (frames, size, size, 3)), 0, 255)
             for rgb in colours.values()]  # fmt: skip
    return [c.astype(np.uint8) for c in clips], [f"a {name} screen" for name in colours]


def test_fine_tuned_retrieval_is_unchanged_on_every_engine(tmp_path):
    torch.manual_seed(0)
    tuned = load_encoder("vidseek-tiny", "none", "cpu")
    finetune(tuned, *colour_set(0), FinetuneOptions(epochs=40, batch_size=8, lr=2e-3, warmup_epochs=2), tmp_path / "t.pt")
    tuned = load_encoder("vidseek-tiny", str(tmp_path / "t.pt"), "cpu")
    clips, texts = [], []
    for seed in (1, 2, 3):  # held out: other noise
        more_clips, more_texts = colour_set(seed)
        clips, texts = clips + more_clips, texts + more_texts
    positives = np.equal.outer(np.arange(len(texts)) % 8, np.arange(len(clips)) % 8)

    def r1(image, text):
        return retrieval_metrics(embed_texts(text, texts), embed_clips(image, clips), positives)["t2v_r1"]

    reference = r1(tuned, tuned)
    assert reference >= 0.9  # it learned the colours
    for engine in BACKENDS:
        for precision in ("float32", "int8"):
            image = engine_encoder(tuned, engine, precision, "image", tmp_path, calibration=clips)
            text = engine_encoder(tuned, engine, precision, "text", tmp_path)
            assert abs(r1(image, text) - reference) <= 0.01, (engine, precision)
