"""Building a model: open_clip name + ``--pretrained`` value -> :class:`VideoEncoder`.

Where the weights come from is :func:`models.registry.resolve`'s answer, one function for every kind of value;
this module builds the model from it:

* random weights (``none``): open_clip's initialisation, seeded (tests, benchmarks);
* a local file (``.pt``, ``.bin``, ``.safetensors``): loaded by :mod:`models.checkpoints`, which detects the
  layout (open_clip state dict, released ViFi-CLIP checkpoint, vidseek fine-tune); the activation and
  preprocessing the file was trained with win over the config's, and the keys a ViFi-CLIP checkpoint lacks by
  design (``token_embedding``) come from the ``base`` weights;
* an open_clip pretrained tag (``openai``, ``laion2b_s34b_b79k`` ...): taken from the local cache when present,
  else downloaded. Without network this fails fast with a message that names the local-file option, instead of
  open_clip's minute of retries.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

import open_clip
import torch

from models.checkpoints import FORMAT_PROMPTS, WeightsFile, load_state, read_weights
from models.encoder import VideoEncoder
from models.errors import PretrainedLoadError, UnknownModelError, WeightsUnavailableError
from models.preprocess import Preprocess
from models.registry import BASE_PRETRAINED, DEFAULT_MODEL, DEFAULT_PRETRAINED, FILE, RANDOM, RANDOM_INIT_SEED, Weights, resolve
from models.vl_prompts import PromptError, prompt_encoder

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
open_clip.add_model_config(CONFIG_DIR)

HUB_PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class ModelSpec:
    """What an index or a server needs to know to rebuild the same encoder."""

    name: str
    pretrained: str
    fingerprint: str  # of the weights; a prompted model's is "<base fingerprint>+vl:<hash of the prompts>"
    # A prompted model's prompts: {"kind": "vl", "tokens", "depth", "base_pretrained", "base_fingerprint"}; else None.
    prompts: dict | None = None


def resolve_device(device: str = "auto") -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no CUDA GPU")
    return device


def load_encoder(
    name: str = DEFAULT_MODEL, pretrained: str = DEFAULT_PRETRAINED, device: str = "auto", base: str = "auto"
) -> VideoEncoder:
    """Build the frame-pooled video encoder for ``name`` with ``pretrained`` weights on ``device``.

    ``base`` matters only for a weights file that lacks keys by design (a ViFi-CLIP checkpoint has no
    ``token_embedding``): ``auto`` takes them from the model's ``openai`` weights (local cache, else the
    hub), ``none`` leaves them randomly initialised; or give a tag or a local open_clip weights file.
    A VL prompts checkpoint (``vidseek-prompts``) holds no CLIP weights: they come from the base it records
    (``auto``), or from ``base`` where those weights are now; either way they must have the recorded fingerprint.
    """
    if name not in open_clip.list_models():
        raise UnknownModelError(
            f"unknown model {name!r}; available: vidseek-tiny, ViT-B-32, ViT-B-16, ... (see open_clip.list_models())"
        )
    device = resolve_device(device)
    weights = resolve(name, pretrained)
    spec = ModelSpec(name, weights.pretrained, weights.fingerprint)
    trained = None
    if weights.kind == RANDOM:
        model = _create(name)
    elif weights.kind == FILE:
        trained = read_weights(weights.path)
        if trained.format == FORMAT_PROMPTS:
            return _load_prompted(name, weights, trained, device, base)
        model = _create(name, force_quick_gelu=bool(trained.quick_gelu))
        if trained.from_base:
            spec = replace(spec, fingerprint=f"{spec.fingerprint}+base:{_load_base(model, name, base, trained)}")
        load_state(model, trained)
    else:
        model = _create_from_tag(weights)
    model.eval().to(device)
    preprocess = Preprocess.from_open_clip(model.visual.preprocess_cfg)
    if trained is not None and trained.preprocess:
        p = trained.preprocess
        preprocess = Preprocess(
            int(p["resize"]), int(p["crop"]), tuple(p["mean"]), tuple(p["std"]), str(p.get("interpolation", "bicubic"))
        )
    tokenizer = open_clip.get_tokenizer(name)
    return VideoEncoder(model, tokenizer, preprocess, spec, device)


def _load_prompted(name: str, source: Weights, trained: WeightsFile, device: str, base: str) -> VideoEncoder:
    """The base a prompts checkpoint records (or ``base``), checked against its fingerprint, with the prompts attached."""
    meta = trained.meta
    recorded, expected = meta.get("base_pretrained"), meta.get("base_fingerprint")
    if meta.get("model_name") != name or not recorded or not expected or not meta.get("prompts"):
        raise PromptError(f"{source.path} holds VL prompts for model {meta.get('model_name')!r}, not {name!r}")
    where = recorded if base == "auto" else base
    try:  # the base's own base (a ViFi-CLIP checkpoint's token_embedding): as recorded in its fingerprint
        encoder = load_encoder(name, where, device, base="none" if expected.endswith("+base:none") else "auto")
    except (PretrainedLoadError, WeightsUnavailableError) as exc:
        raise type(exc)(
            f"{source.path} holds VL prompts trained on {name} --pretrained {recorded!r}, which cannot be loaded: {exc}. "
            "If those weights moved, name where they are now with --base PATH"
        ) from exc
    if encoder.prompts is not None:
        raise PromptError(f"the base of {source.path}, {where}, is a prompts checkpoint itself; prompts need CLIP weights")
    if encoder.spec.fingerprint != expected:
        raise PromptError(
            f"{source.path} holds VL prompts trained on {name} weights with fingerprint {expected} ({recorded}); "
            f"{where} has fingerprint {encoder.spec.fingerprint}. Prompts fit only the weights they were trained on: "
            "point --base at those"
        )
    prompt_encoder(encoder, int(meta["prompts"]["tokens"]), int(meta["prompts"]["depth"]), trained.state)
    encoder.spec = replace(encoder.spec, pretrained=source.pretrained)  # what an index records to load it again
    return encoder


def _load_base(model: torch.nn.Module, name: str, base: str, weights: WeightsFile) -> str:
    """Fill ``model`` with the base CLIP weights that ``weights`` lacks by design; returns their fingerprint."""
    lacking = ", ".join(weights.from_base)
    if base == "auto":
        if BASE_PRETRAINED not in open_clip.list_pretrained_tags_by_model(name):
            message = "%s lacks %s and %s has no %s weights: those stay randomly initialised"
            log.warning(message, weights.path, lacking, name, BASE_PRETRAINED)
            return "none"
        base = BASE_PRETRAINED
    source = resolve(name, base)
    if source.kind == RANDOM:
        return "none"
    if source.kind == FILE:
        load_state(model, read_weights(source.path))
        return source.fingerprint
    try:
        tagged = _create_from_tag(source)
    except WeightsUnavailableError as exc:
        raise WeightsUnavailableError(
            f"{weights.path} is a {weights.format} checkpoint without {lacking} (never trained by ViFi-CLIP); "
            f"those come from the base CLIP weights {name}/{base}, which are unavailable: {exc}"
        ) from exc
    model.load_state_dict(tagged.state_dict())
    return source.fingerprint


def _create(name: str, **kwargs) -> torch.nn.Module:
    # Seeded (see RANDOM_INIT_SEED); the caller's RNG is left untouched.
    # open_clip warns that the model is "initialized randomly" even when we load weights ourselves.
    with _quiet_open_clip(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        return open_clip.create_model(name, pretrained=None, **kwargs)


def _create_from_tag(weights: Weights) -> torch.nn.Module:
    name, tag = weights.model, weights.pretrained
    if _cached_weights(weights) is None and not _hub_reachable(weights):
        raise WeightsUnavailableError(
            f"cannot download pretrained weights {name}/{tag}: the model hub is unreachable from this "
            "machine and the weights are not in the local cache. Pass a local weights file instead "
            "(--pretrained /path/to/weights.safetensors|.pt|.bin, or VIDSEEK_PRETRAINED), "
            "or --pretrained none for random weights (tests only)."
        )
    try:
        with _quiet_open_clip():
            return open_clip.create_model(name, pretrained=tag)
    except RuntimeError as exc:
        raise WeightsUnavailableError(f"could not load pretrained weights {name}/{tag}: {exc}") from exc


def _cached_weights(weights: Weights) -> str | None:
    """The path of already-downloaded weights for an open_clip tag, without network."""
    hub = weights.hf_hub
    if not hub:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub is an open_clip dependency
        return None
    repo_id, filename = os.path.split(hub)
    for candidate in filter(None, [filename, "open_clip_model.safetensors", "open_clip_pytorch_model.bin"]):
        found = try_to_load_from_cache(repo_id, candidate)
        if isinstance(found, str):
            return found
    return None


def _hub_reachable(weights: Weights) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co") if weights.hf_hub else weights.url
    url = urlparse(endpoint)
    if not url.hostname:
        return False
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        with socket.create_connection((url.hostname, port), timeout=HUB_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _quiet_open_clip():
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        root.setLevel(level)
