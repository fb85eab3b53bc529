import numpy as np
import pytest
import torch
from torch import nn
from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

from models import quantize
from models.quantize import (
    QuantizationError,
    image_encoder_at,
    image_precision,
    quantize_text_tower,
    text_drift,
    text_encoder_at,
    text_precision,
    text_tower_is_int8,
)

WORDS = "a man woman dog cat car street beach dancing running cooking red blue green night snow city river".split()


def captions(n, seed=0):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 12)))) for _ in range(n)]


def test_int8_text_tower_replaces_only_text_linear_layers(tiny_encoder):
    int8 = quantize_text_tower(tiny_encoder)
    assert text_precision(text_encoder_at(tiny_encoder, "int8")) == "int8"
    text_layers = [type(m) for m in int8.model.transformer.modules() if isinstance(m, (nn.Linear, DynamicInt8Linear))]
    assert DynamicInt8Linear in text_layers
    assert text_tower_is_int8(int8.model) and not text_tower_is_int8(tiny_encoder.model)  # the original is untouched
    assert int8.model.visual is tiny_encoder.model.visual  # shared, not copied
    assert not any(isinstance(m, DynamicInt8Linear) for m in int8.model.visual.modules())
    assert int8.spec == tiny_encoder.spec and int8.dim == tiny_encoder.dim


def test_int8_text_vectors_stay_close_to_float(tiny_encoder):
    int8 = quantize_text_tower(tiny_encoder)
    texts = captions(300)
    cosines = text_drift(tiny_encoder, int8, texts)
    # Measured on this tiny random model: min 0.9989, mean 0.9996 over 3 x 300 captions.
    assert cosines.shape == (300,)
    assert cosines.min() >= 0.995 and cosines.mean() >= 0.999
    assert cosines.mean() < 1 - 1e-7  # the int8 layers really run
    vectors = int8.encode_text(texts[:5])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(int8.encode_text(texts[:5]), vectors, atol=1e-6)  # deterministic


def test_int8_encoder_leaves_video_vectors_alone(tiny_encoder):
    int8 = quantize_text_tower(tiny_encoder)
    clip = np.random.default_rng(0).integers(0, 256, (4, 80, 96, 3), dtype=np.uint8)
    np.testing.assert_array_equal(int8.encode_video(clip), tiny_encoder.encode_video(clip))


def test_int8_text_encoder_is_refused_off_cpu(tiny_encoder):
    tiny_encoder.device = "cuda"
    with pytest.raises(QuantizationError, match="CPU only"):
        quantize_text_tower(tiny_encoder)


def test_bfloat16_text_tower_casts_only_the_text_side(tiny_encoder):
    low = text_encoder_at(tiny_encoder, "bfloat16")
    assert text_precision(low) == "bfloat16" and text_precision(tiny_encoder) == "float32"  # the original is untouched
    assert low.model.visual is tiny_encoder.model.visual  # shared, not copied
    assert {p.dtype for p in low.model.visual.parameters()} == {torch.float32}
    assert low.model.logit_scale.dtype == torch.float32 and low.logit_scale == tiny_encoder.logit_scale
    clip = np.random.default_rng(0).integers(0, 256, (4, 80, 96, 3), dtype=np.uint8)
    np.testing.assert_array_equal(low.encode_video(clip), tiny_encoder.encode_video(clip))
    texts = captions(300)
    cosines = text_drift(tiny_encoder, low, texts)
    # Measured: min 0.99992 for ViT-B-32 over 8 captions (bench_query.py reports it over 300).
    assert cosines.min() >= 0.995 and cosines.mean() >= 0.999
    assert cosines.mean() < 1 - 1e-7  # the bfloat16 weights really run
    vectors = low.encode_text(texts[:5])
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_bfloat16_image_tower_embeds_videos_close_to_float32(tiny_encoder):
    low = image_encoder_at(tiny_encoder, "bfloat16")
    assert image_precision(low) == "bfloat16" and image_precision(tiny_encoder) == "float32"  # the original is untouched
    assert low.model.transformer is tiny_encoder.model.transformer  # the text tower is shared, not copied
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (4, 80, 96, 3), dtype=np.uint8) for _ in range(6)]
    vectors, reference = low.encode_videos(clips), tiny_encoder.encode_videos(clips)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(vectors * reference, axis=1)
    assert cosines.min() >= 0.999 and cosines.mean() < 1 - 1e-7  # close, and the bfloat16 weights really run
    np.testing.assert_array_equal(low.encode_text(["a red car"]), tiny_encoder.encode_text(["a red car"]))


@pytest.mark.parametrize(
    ("at", "precision_of", "invalid"), [(text_encoder_at, text_precision, "fp8"), (image_encoder_at, image_precision, "int8")]
)
def test_precision_auto_takes_bfloat16_only_where_the_cpu_has_it(tiny_encoder, monkeypatch, at, precision_of, invalid):
    monkeypatch.setattr(quantize, "native_bfloat16", lambda: True)
    assert precision_of(at(tiny_encoder, "auto")) == "bfloat16"
    monkeypatch.setattr(quantize, "native_bfloat16", lambda: False)
    assert at(tiny_encoder, "auto") is tiny_encoder
    assert at(tiny_encoder, "float32") is tiny_encoder
    with pytest.raises(ValueError, match="unknown precision"):
        at(tiny_encoder, invalid)
    tiny_encoder.device = "cuda"
    assert at(tiny_encoder, "auto") is tiny_encoder  # CUDA runs the model under float16 autocast
    with pytest.raises(QuantizationError, match="CPU only"):
        at(tiny_encoder, "bfloat16")
