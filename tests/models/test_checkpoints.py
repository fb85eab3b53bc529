"""Weights-file layouts: each one is built from a tiny model and must load back to the same model."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from open_clip.transformer import QuickGELU
from yacs.config import CfgNode

from models import PretrainedLoadError, load_encoder
from models.checkpoints import FORMAT_OPEN_CLIP, FORMAT_VIDSEEK, FORMAT_VIFICLIP, read_weights, save_checkpoint

TEXT_TOP_LEVEL = ("transformer.", "positional_embedding", "ln_final.", "text_projection")


def vificlip_config(frames=16, size=64, arch="ViT-B/16") -> CfgNode:
    """A training config built the way ViFi-CLIP's utils/config.py builds it: a frozen yacs CfgNode tree."""
    config = CfgNode()
    config.BASE = [""]
    config.DATA = CfgNode()
    config.DATA.NUM_FRAMES = frames
    config.DATA.INPUT_SIZE = size
    config.DATA.DATASET = "kinetics400"
    config.MODEL = CfgNode()
    config.MODEL.ARCH = arch
    config.MODEL.PRETRAINED = None
    config.TRAIN = CfgNode()
    config.TRAIN.LR = 8e-6
    config = config.clone()
    config.LOCAL_RANK = 0
    config.freeze()
    return config


def random_clip(t=4, h=80, w=112, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def perturbed(encoder):
    """The encoder with weights that differ from any fresh initialisation."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in encoder.model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.02)
    return encoder


def vificlip_layout(model: torch.nn.Module, config=None) -> dict:
    """A checkpoint exactly as ViFi-CLIP's main.py saves it (DDP-wrapped ViFiCLIP module)."""
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith("visual."):
            state["module.image_encoder." + key.removeprefix("visual.")] = value.clone()
        elif key.startswith(TEXT_TOP_LEVEL):
            state["module.text_encoder." + key] = value.clone()
        elif key == "logit_scale":
            state["module.logit_scale"] = value.clone()
        else:
            assert key in ("token_embedding.weight", "attn_mask"), key  # not saved by ViFi-CLIP
    width = model.token_embedding.weight.shape[1]
    state["module.prompt_learner.complete_text_embeddings"] = torch.randn(5, 77, width)
    state["module.prompt_learner.token_prefix"] = torch.randn(5, 1, width)
    parameter = torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.AdamW([parameter], lr=8e-6, betas=(0.9, 0.98), eps=1e-8, weight_decay=1e-3)
    parameter.sum().backward()
    optimizer.step()  # its state dict: per-parameter moments and step counts, and the hyper-parameters
    # timm's CosineLRScheduler.state_dict() as ViFi-CLIP's utils/optimizer.py configures it
    lr_scheduler = {"t_initial": 1000, "lr_min": 8e-8, "warmup_t": 50, "warmup_lr_init": 0, "t_in_epochs": False}
    return {
        "model": state,
        "optimizer": optimizer.state_dict(),
        "lr_scheduler": {**lr_scheduler, "base_values": [8e-6], "noise_range_t": None, "param_group_field": "lr"},
        "max_accuracy": 83.9,
        "epoch": 9,
        "config": vificlip_config() if config is None else config,
    }


def model_outputs(model, pixels, tokens):
    with torch.no_grad():
        return model.encode_image(pixels), model.encode_text(tokens)


def test_vificlip_checkpoint_reproduces_the_source_model(tmp_path, tiny_encoder):
    source = perturbed(tiny_encoder)
    path = tmp_path / "vifi_clip_k400.pth"
    torch.save(vificlip_layout(source.model), path)
    base = tmp_path / "base.pt"  # the base CLIP weights: ViFi-CLIP never trains (nor saves) token_embedding
    torch.save(source.model.state_dict(), base)

    loaded = load_encoder("vidseek-tiny", str(path), "cpu", base=str(base))

    assert set(loaded.model.state_dict()) == set(source.model.state_dict())
    for key, value in source.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value), key
    pixels = torch.randn(3, 3, 64, 64)
    tokens = source.tokenizer(["a small red triangle moving horizontally"])
    for got, want in zip(model_outputs(loaded.model, pixels, tokens), model_outputs(source.model, pixels, tokens)):
        assert torch.equal(got, want)
    np.testing.assert_allclose(loaded.encode_text(["a cat"]), source.encode_text(["a cat"]), atol=1e-6)
    # ViFi-CLIP's preprocessing: ImageNet statistics, short side 256/224 * size by OpenCV bilinear (the reference's
    # mmcv.imresize), centre crop.
    assert loaded.preprocess.to_dict() == {
        "resize": 73,
        "crop": 64,
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "interpolation": "opencv-bilinear",
    }
    assert "+base:sha256:" in loaded.spec.fingerprint


def test_vificlip_video_embedding_uses_vifi_preprocessing(tmp_path, tiny_encoder):
    source = perturbed(tiny_encoder)
    path = tmp_path / "vifi.pth"
    torch.save(vificlip_layout(source.model), path)
    loaded = load_encoder("vidseek-tiny", str(path), "cpu", base="none")
    clip = random_clip()
    with torch.no_grad():
        reference = source.model.encode_image(loaded.preprocess(clip)).mean(0)
    np.testing.assert_allclose(loaded.encode_video(clip), (reference / reference.norm()).numpy(), atol=1e-6)
    assert not np.allclose(loaded.encode_video(clip), source.encode_video(clip), atol=1e-3)  # OpenAI stats differ


def test_vificlip_detected_and_described(tmp_path, tiny_encoder):
    path = tmp_path / "checkpoint.bin"  # the name says nothing; the keys do
    torch.save(vificlip_layout(tiny_encoder.model), path)
    weights = read_weights(path)
    assert weights.format == FORMAT_VIFICLIP
    assert weights.quick_gelu is True
    assert weights.from_base == ["token_embedding.weight"]
    assert weights.dropped == ["prompt_learner.complete_text_embeddings", "prompt_learner.token_prefix"]
    assert not any(k.startswith(("module.", "image_encoder.", "text_encoder.")) for k in weights.state)
    assert weights.meta == {"epoch": 9, "max_accuracy": 83.9, "arch": "ViT-B/16", "frames": 16, "dataset": "kinetics400"}
    text = "\n".join(weights.summary())
    assert "vifi-clip" in text and "QuickGELU" in text and "token_embedding.weight" in text and "crop 64" in text


def test_vificlip_config_is_read_without_yacs(tmp_path, tiny_encoder, monkeypatch):
    """Released checkpoints pickle a yacs CfgNode; reading them must not need (nor import) yacs."""
    path = tmp_path / "vifi.pth"
    torch.save(vificlip_layout(tiny_encoder.model, vificlip_config(frames=8, arch="ViT-B/32")), path)
    for name in [m for m in sys.modules if m == "yacs" or m.startswith("yacs.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "yacs", None)  # "import yacs" now fails, as where it is not installed
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == ["yacs.config.CfgNode"]  # yacs' own class
    weights = read_weights(path)
    assert weights.meta["frames"] == 8 and weights.meta["arch"] == "ViT-B/32" and weights.meta["dataset"] == "kinetics400"
    assert sys.modules["yacs"] is None


def test_vificlip_forces_quickgelu(tmp_path):
    """vidseek-small uses GELU; ViFi-CLIP weights are OpenAI-style, so they get QuickGELU."""
    source = load_encoder("vidseek-small", "none", "cpu")
    assert not isinstance(source.model.visual.transformer.resblocks[0].mlp.gelu, QuickGELU)
    path = tmp_path / "vifi.pth"
    torch.save(vificlip_layout(source.model), path)
    loaded = load_encoder("vidseek-small", str(path), "cpu", base="none")
    assert isinstance(loaded.model.visual.transformer.resblocks[0].mlp.gelu, QuickGELU)
    assert isinstance(loaded.model.transformer.resblocks[0].mlp.gelu, QuickGELU)


def test_incompatible_vificlip_names_the_keys(tmp_path, tiny_encoder):
    checkpoint = vificlip_layout(tiny_encoder.model)
    del checkpoint["model"]["module.image_encoder.proj"]
    checkpoint["model"]["module.text_encoder.transformer.extra.weight"] = torch.zeros(2)
    path = tmp_path / "vifi.pth"
    torch.save(checkpoint, path)
    expected = r"vifi-clip.*missing keys visual\.proj.*unexpected keys transformer\.extra\.weight"
    with pytest.raises(PretrainedLoadError, match=expected):
        load_encoder("vidseek-tiny", str(path), "cpu", base="none")


def test_vificlip_into_the_wrong_architecture_fails_clearly(tmp_path, tiny_encoder):
    path = tmp_path / "vifi.pth"
    torch.save(vificlip_layout(tiny_encoder.model), path)
    with pytest.raises(PretrainedLoadError, match="does not fit this model"):
        load_encoder("vidseek-small", str(path), "cpu", base="none")


@pytest.mark.parametrize("layout", ["bare.bin", "ddp_state_dict.pt", "open_clip.safetensors"])
def test_open_clip_layouts(tmp_path, tiny_encoder, layout):
    source = perturbed(tiny_encoder)
    state = {k: v.contiguous() for k, v in source.model.state_dict().items()}
    path = tmp_path / layout
    if layout.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file(state, str(path))
    elif layout.startswith("ddp"):
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, path)
    else:
        torch.save(state, path)
    assert read_weights(path).format == FORMAT_OPEN_CLIP
    loaded = load_encoder("vidseek-tiny", str(path), "cpu")
    clip = random_clip()
    np.testing.assert_allclose(loaded.encode_video(clip), source.encode_video(clip), atol=1e-6)
    np.testing.assert_allclose(loaded.encode_text(["x y"]), source.encode_text(["x y"]), atol=1e-6)
    assert loaded.preprocess == source.preprocess


def test_vidseek_checkpoint_carries_its_preprocessing(tmp_path, tiny_encoder):
    source = perturbed(tiny_encoder)
    preprocess = {"resize": 73, "crop": 64, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "interpolation": "bilinear"}
    path = tmp_path / "finetuned.pt"
    save_checkpoint(path, source.model, preprocess=preprocess, quick_gelu=True, epoch=2, optimizer={"state": {}})
    assert not (tmp_path / "finetuned.pt.tmp").exists()
    weights = read_weights(path)
    assert weights.format == FORMAT_VIDSEEK and weights.meta["epoch"] == 2
    loaded = load_encoder("vidseek-tiny", str(path), "cpu")
    assert loaded.preprocess.to_dict() == preprocess
    np.testing.assert_allclose(loaded.encode_text(["x"]), source.encode_text(["x"]), atol=1e-6)


def test_not_a_weights_file(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00not a pickle at all")
    with pytest.raises(PretrainedLoadError, match="cannot read weights file"):
        read_weights(junk)
    listing = tmp_path / "list.pt"
    torch.save([1, 2, 3], listing)
    with pytest.raises(PretrainedLoadError, match="does not hold a state dict"):
        read_weights(listing)
