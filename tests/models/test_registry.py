"""The pretrained registry held to open_clip's own facts, and every kind of ``--pretrained`` value through one function."""

from __future__ import annotations

import hashlib
import socket

import open_clip
import pytest
import torch

from models import PretrainedLoadError, UnknownModelError, load_encoder
from models.registry import (
    BASE_PRETRAINED,
    DEFAULT_MODEL,
    DEFAULT_PRETRAINED,
    FILE,
    OPEN_CLIP,
    RANDOM,
    REGISTERED,
    file_fingerprint,
    resolve,
)
from tests.models.test_checkpoints import vificlip_layout


@pytest.fixture()
def no_network(monkeypatch):
    def refuse(address, *args, **kwargs):
        raise AssertionError(f"resolving a --pretrained value opened a connection to {address}")

    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("key", sorted(REGISTERED))
def test_every_registered_tag_is_one_open_clip_knows(key):
    assert key in open_clip.list_pretrained()


@pytest.mark.parametrize("key", sorted(REGISTERED))
def test_a_registered_sha256_is_the_one_open_clip_checks_its_download_against(key):
    # open_clip's download_pretrained_from_url takes OpenAI's checksum from the release URL's last folder.
    url = open_clip.get_pretrained_cfg(*key)["url"]
    assert "openaipublic" in url
    assert REGISTERED[key].sha256 == url.split("/")[-2]


def test_the_defaults_and_vificlips_base_are_registered():
    assert (DEFAULT_MODEL, DEFAULT_PRETRAINED) in REGISTERED
    assert ("ViT-B-16", BASE_PRETRAINED) in REGISTERED  # ViFi-CLIP's released checkpoints are ViT-B/16
    assert load_encoder.__defaults__[:2] == (DEFAULT_MODEL, DEFAULT_PRETRAINED)


def test_a_tag_resolves_to_open_clips_source_without_network(no_network):
    weights = resolve("ViT-B-32", "openai")
    cfg = open_clip.get_pretrained_cfg("ViT-B-32", "openai")
    assert (weights.kind, weights.pretrained) == (OPEN_CLIP, "openai")
    assert (weights.hf_hub, weights.url) == (cfg["hf_hub"], cfg["url"])
    assert weights.source == f"hf-hub:{cfg['hf_hub']}"
    assert weights.sha256 == REGISTERED[("ViT-B-32", "openai")].sha256
    assert weights.fingerprint == "open_clip:ViT-B-32:openai"  # what indexes built before the registry recorded


def test_an_unregistered_open_clip_tag_still_resolves(no_network):
    tag = next(t for t in open_clip.list_pretrained_tags_by_model("ViT-B-32") if ("ViT-B-32", t) not in REGISTERED)
    weights = resolve("ViT-B-32", tag)
    assert weights.kind == OPEN_CLIP and weights.sha256 is None and weights.fingerprint == f"open_clip:ViT-B-32:{tag}"


@pytest.mark.parametrize("value", ["none", "None", "random", ""])
def test_no_weights_is_random_initialisation(value):
    weights = resolve("vidseek-tiny", value)
    assert (weights.kind, weights.pretrained, weights.fingerprint) == (RANDOM, "none", "none")
    assert load_encoder("vidseek-tiny", value, "cpu").spec.pretrained == "none"


def test_a_local_file_resolves_through_the_same_function(tmp_path, monkeypatch, _tiny_encoder):
    path = tmp_path / "weights.pt"
    torch.save(_tiny_encoder.model.state_dict(), path)
    monkeypatch.chdir(tmp_path)
    weights = resolve("vidseek-tiny", "weights.pt")  # relative to the working folder
    assert (weights.kind, weights.path, weights.pretrained) == (FILE, path.resolve(), str(path.resolve()))
    assert weights.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert weights.fingerprint == file_fingerprint(path) == f"sha256:{weights.sha256}"
    assert weights.source == str(path.resolve())
    loaded = load_encoder("vidseek-tiny", "weights.pt", "cpu")
    assert (loaded.spec.pretrained, loaded.spec.fingerprint) == (weights.pretrained, weights.fingerprint)


def test_a_missing_file_is_the_same_error_from_resolve_and_load_encoder(tmp_path):
    missing = tmp_path / "nope.safetensors"
    expected = f"weights file not found: {missing}"
    with pytest.raises(PretrainedLoadError) as resolved:
        resolve("vidseek-tiny", str(missing))
    with pytest.raises(PretrainedLoadError) as loaded:
        load_encoder("vidseek-tiny", str(missing), "cpu")
    assert str(resolved.value) == str(loaded.value) == expected


@pytest.mark.parametrize("model", ["ViT-B-32", "vidseek-tiny"])
def test_an_unknown_tag_names_the_known_ones(model):
    known = ", ".join(open_clip.list_pretrained_tags_by_model(model)) or "none"
    expected = (
        f"open_clip has no pretrained tag 'no-such-tag' for {model}; known tags: {known}; or pass a local weights file or 'none'"
    )
    with pytest.raises(UnknownModelError) as resolved:
        resolve(model, "no-such-tag")
    with pytest.raises(UnknownModelError) as loaded:
        load_encoder(model, "no-such-tag", "cpu")
    assert str(resolved.value) == str(loaded.value) == expected


def test_base_weights_resolve_through_the_same_function(tmp_path, _tiny_encoder):
    """The keys a ViFi-CLIP checkpoint lacks come from ``base``: a tag is checked like --pretrained's, a file
    enters the fingerprint by its sha256."""
    checkpoint = tmp_path / "vifi_clip.pth"
    torch.save(vificlip_layout(_tiny_encoder.model), checkpoint)
    with pytest.raises(UnknownModelError, match="no pretrained tag 'no-such-tag' for vidseek-tiny; known tags: none"):
        load_encoder("vidseek-tiny", str(checkpoint), "cpu", base="no-such-tag")
    base = tmp_path / "base.pt"
    torch.save(_tiny_encoder.model.state_dict(), base)
    loaded = load_encoder("vidseek-tiny", str(checkpoint), "cpu", base=str(base))
    assert loaded.spec.fingerprint == f"{file_fingerprint(checkpoint)}+base:{resolve('vidseek-tiny', str(base)).fingerprint}"
