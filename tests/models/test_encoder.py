import socket
import time

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from models import Preprocess, PretrainedLoadError, UnknownModelError, WeightsUnavailableError, load_encoder
from models.encoder import DEFAULT_BATCH_SIZE, batch_for_memory, zero_shot_probabilities


def random_clip(t=8, h=120, w=200, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_pooled_embedding_equals_reference_computation(tiny_encoder):
    clip = random_clip()
    pixels = tiny_encoder.preprocess(clip)
    with torch.no_grad():
        per_frame = tiny_encoder.model.encode_image(pixels)
    reference = per_frame.mean(dim=0)
    reference = (reference / reference.norm()).numpy()
    got = tiny_encoder.encode_video(clip)
    assert got.shape == (tiny_encoder.dim,)
    np.testing.assert_allclose(got, reference, atol=1e-5)


def test_batched_videos_equal_one_by_one(tiny_encoder):
    clips = [random_clip(seed=i, h=90 + 10 * i) for i in range(3)]  # different frame sizes in one batch
    batched = tiny_encoder.encode_videos(clips)
    for clip, vector in zip(clips, batched):
        np.testing.assert_allclose(vector, tiny_encoder.encode_video(clip), atol=1e-5)


def test_batch_for_memory_fits_the_measured_cost_of_a_clip():
    mib = 1 << 20
    # a clip costs the 2-clip peak less the 1-clip one (100 MiB); the rest (1000 MiB) is paid once per batch
    assert batch_for_memory(10_000 * mib, 1100 * mib, 1200 * mib, fraction=0.5, cap=1000) == (5000 - 1000) // 100
    assert batch_for_memory(10_000 * mib, 1100 * mib, 1200 * mib, fraction=0.9, cap=1000) == (9000 - 1000) // 100
    assert batch_for_memory(10_000 * mib, 1100 * mib, 1200 * mib, fraction=0.5, cap=32) == 32
    assert batch_for_memory(1000 * mib, 1100 * mib, 1200 * mib) == 1  # too little memory: one clip at a time
    with pytest.raises(ValueError, match="fraction"):
        batch_for_memory(mib, 1, 2, fraction=0)


def test_on_a_cpu_batches_keep_the_default_size(tiny_encoder):
    assert tiny_encoder.batch_size_for_memory(8, 224) == DEFAULT_BATCH_SIZE == 16


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_preprocesses_on_the_gpu_like_the_cpu_and_sizes_its_batches(tiny_encoder):
    gpu = load_encoder("vidseek-tiny", "none", "cuda")
    clips = [random_clip(seed=i, h=90 + 10 * i) for i in range(3)]  # resized on the GPU, in float16 autocast
    cosines = (gpu.encode_videos(clips) * tiny_encoder.encode_videos(clips)).sum(axis=1)
    assert cosines.min() > 0.999
    assert 2 <= gpu.batch_size_for_memory(8, 224) <= 128


def test_mean_pooling_ignores_frame_order(tiny_encoder):
    clip = random_clip()
    np.testing.assert_allclose(tiny_encoder.encode_video(clip[::-1].copy()), tiny_encoder.encode_video(clip), atol=1e-5)


def test_text_vectors_are_unit_length_and_template_applied(tiny_encoder):
    vectors = tiny_encoder.encode_text(["dog", "cat"], template="a photo of a {}.")
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors[0], tiny_encoder.encode_text(["a photo of a dog."])[0], atol=1e-6)
    assert not np.allclose(vectors[0], tiny_encoder.encode_text(["dog"])[0])


def test_preprocess_matches_open_clip_transform(tiny_encoder):
    image = random_clip(t=1, h=150, w=260)[0]
    _, _, transform = open_clip.create_model_and_transforms("vidseek-tiny")
    reference = transform(Image.fromarray(image))
    got = tiny_encoder.preprocess(image[None])[0]
    assert got.shape == reference.shape == (3, 64, 64)
    # PIL and torch resize differ by rounding only: mean error well under one grey level (1/255/std).
    assert (got - reference).abs().mean().item() < 0.03


def test_preprocess_resize_then_crop_like_vificlip():
    pre = Preprocess(resize=256, crop=224, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    out = pre(random_clip(t=2, h=300, w=400))
    assert out.shape == (2, 3, 224, 224)


def test_zero_shot_probabilities_softmax():
    p = zero_shot_probabilities(np.array([0.3, 0.1, 0.2]), logit_scale=100.0)
    assert p.sum() == pytest.approx(1.0)
    assert p.argmax() == 0 and p[0] > p[2] > p[1]


def test_classify_sorted_probabilities(tiny_encoder):
    ranked = tiny_encoder.classify(random_clip(), ["a", "b", "c"])
    assert sorted(l for l, _, _ in ranked) == ["a", "b", "c"]
    probabilities = [p for _, _, p in ranked]
    assert probabilities == sorted(probabilities, reverse=True)
    assert sum(probabilities) == pytest.approx(1.0)


def test_unknown_model_is_a_clear_error():
    with pytest.raises(UnknownModelError, match="unknown model"):
        load_encoder("no-such-model", "none")


def test_unreachable_hub_fails_fast_and_names_local_file_option(monkeypatch, tmp_path):
    """Online (HF_HUB_OFFLINE unset) with no cached weights and a hub that refuses connections: the probe runs,
    and fails at once with a message naming the local-file option, instead of open_clip's minute of retries."""
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the hub the probe tries: loopback, nothing listening
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))  # no weights downloaded before
    tried, connect = [], socket.create_connection

    def loopback_only(address, *args, **kwargs):  # a real connection on this machine; anywhere else is refused
        tried.append(address[0])
        if address[0] != "127.0.0.1":
            raise ConnectionRefusedError(f"the tests never touch the network ({address})")
        return connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", loopback_only)
    started = time.monotonic()
    with pytest.raises(WeightsUnavailableError) as info:
        load_encoder("ViT-B-32", "openai", "cpu")
    assert time.monotonic() - started < 5
    assert tried == ["127.0.0.1"]  # the probe asked the hub, once
    assert "unreachable" in str(info.value) and "local weights file" in str(info.value) and "--pretrained" in str(info.value)


def test_unknown_tag_lists_known_tags():
    with pytest.raises(UnknownModelError, match="openai"):
        load_encoder("ViT-B-32", "no-such-tag")


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_local_weights_file_reproduces_the_model(tmp_path, tiny_encoder, suffix):
    source = tiny_encoder.model
    with torch.no_grad():
        for p in source.parameters():
            p.add_(torch.randn_like(p) * 0.01)  # weights that differ from any fresh init
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    else:
        torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    loaded = load_encoder("vidseek-tiny", str(path), "cpu")
    clip = random_clip()
    np.testing.assert_allclose(loaded.encode_video(clip), tiny_encoder.encode_video(clip), atol=1e-6)
    np.testing.assert_allclose(loaded.encode_text(["x"]), tiny_encoder.encode_text(["x"]), atol=1e-6)
    assert loaded.spec.fingerprint.startswith("sha256:")


def test_incompatible_weights_name_the_keys(tmp_path, tiny_encoder):
    state = tiny_encoder.model.state_dict()
    state.pop("visual.proj")
    state["bogus.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    with pytest.raises(PretrainedLoadError, match=r"missing keys visual\.proj.*unexpected keys bogus\.weight"):
        load_encoder("vidseek-tiny", str(path), "cpu")


def test_missing_weights_file(tmp_path):
    with pytest.raises(PretrainedLoadError, match="not found"):
        load_encoder("vidseek-tiny", str(tmp_path / "nope.pt"), "cpu")


def test_text_context_cut_to_the_batch_changes_nothing(tiny_encoder):
    texts = ["a dog", "a much longer caption about a person riding a bicycle down a hill at night", "x"]
    with torch.no_grad():
        full = tiny_encoder.model.encode_text(tiny_encoder.tokenizer(texts)).numpy()
    full /= np.linalg.norm(full, axis=1, keepdims=True)
    np.testing.assert_allclose(tiny_encoder.encode_text(texts), full, atol=1e-5)
    np.testing.assert_allclose(tiny_encoder.encode_text(["a dog"])[0], full[0], atol=1e-5)


def test_random_weights_are_the_same_in_every_load():
    a, b = load_encoder("vidseek-tiny", "none", "cpu"), load_encoder("vidseek-tiny", "none", "cpu")
    np.testing.assert_array_equal(a.encode_text(["same"]), b.encode_text(["same"]))
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    load_encoder("vidseek-tiny", "none", "cpu")
    assert torch.rand(1) == expected  # the caller's random stream is untouched
