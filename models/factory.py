"""Building a model: open_clip name + pretrained tag or local weights file -> :class:`VideoEncoder`.

One function resolves every kind of ``pretrained`` value, so the CLI, the indexer and the server all
load weights the same way:

* ``none``: random initialisation (tests, benchmarks);
* an existing file (``.pt``, ``.bin``, ``.safetensors``): loaded by :mod:`models.checkpoints`, which
  detects the layout (open_clip state dict, released ViFi-CLIP checkpoint, vidseek fine-tune); the
  activation and preprocessing the file was trained with win over the config's, and the keys a ViFi-CLIP
  checkpoint lacks by design (``token_embedding``) come from the ``base`` weights;
* anything else: an open_clip pretrained tag (``openai``, ``laion2b_s34b_b79k`` ...), taken from the
  local cache when present, else downloaded. Without network this fails fast with a message that names
  the local-file option, instead of open_clip's minute of retries.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import open_clip
import torch

from models.checkpoints import WeightsFile, load_state, read_weights
from models.encoder import VideoEncoder
from models.errors import PretrainedLoadError, UnknownModelError, WeightsUnavailableError
from models.preprocess import Preprocess

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
open_clip.add_model_config(CONFIG_DIR)

NO_WEIGHTS = ("none", "random", "")
WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")
HUB_PROBE_TIMEOUT_S = 3.0
RANDOM_INIT_SEED = 0


@dataclass(frozen=True)
class ModelSpec:
    """What an index or a server needs to know to rebuild the same encoder."""

    name: str
    pretrained: str
    fingerprint: str


def resolve_device(device: str = "auto") -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no CUDA GPU")
    return device


def is_weights_path(pretrained: str) -> bool:
    return pretrained.lower().endswith(WEIGHT_SUFFIXES) or os.sep in pretrained or Path(pretrained).exists()


def file_fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def describe_pretrained(name: str, pretrained: str) -> ModelSpec:
    """The spec (with weights fingerprint) that an index manifest records for this model."""
    if pretrained.lower() in NO_WEIGHTS:
        return ModelSpec(name, "none", "none")
    if is_weights_path(pretrained):
        path = Path(pretrained).expanduser().resolve()
        if not path.is_file():
            raise PretrainedLoadError(f"weights file not found: {path}")
        return ModelSpec(name, str(path), file_fingerprint(path))
    return ModelSpec(name, pretrained, f"open_clip:{name}:{pretrained}")


def load_encoder(
    name: str = "ViT-B-32", pretrained: str = "openai", device: str = "auto", base: str = "auto"
) -> VideoEncoder:
    """Build the frame-pooled video encoder for ``name`` with ``pretrained`` weights on ``device``.

    ``base`` matters only for a weights file that lacks keys by design (a ViFi-CLIP checkpoint has no
    ``token_embedding``): ``auto`` takes them from the model's ``openai`` weights (local cache, else the
    hub), ``none`` leaves them randomly initialised; or give a tag or a local open_clip weights file.
    """
    if name not in open_clip.list_models():
        raise UnknownModelError(
            f"unknown model {name!r}; available: vidseek-tiny, ViT-B-32, ViT-B-16, ... (see open_clip.list_models())"
        )
    device = resolve_device(device)
    spec = describe_pretrained(name, pretrained)
    weights = None
    if spec.pretrained == "none":
        model = _create(name)
    elif is_weights_path(spec.pretrained):
        weights = read_weights(Path(spec.pretrained))
        model = _create(name, force_quick_gelu=bool(weights.quick_gelu))
        if weights.from_base:
            spec = ModelSpec(spec.name, spec.pretrained, f"{spec.fingerprint}+base:{_load_base(model, name, base, weights)}")
        load_state(model, weights)
    else:
        model = _create_from_tag(name, spec.pretrained)
    model.eval().to(device)
    preprocess = Preprocess.from_open_clip(model.visual.preprocess_cfg)
    if weights is not None and weights.preprocess:
        p = weights.preprocess
        preprocess = Preprocess(
            int(p["resize"]), int(p["crop"]), tuple(p["mean"]), tuple(p["std"]), str(p.get("interpolation", "bicubic"))
        )
    tokenizer = open_clip.get_tokenizer(name)
    return VideoEncoder(model, tokenizer, preprocess, spec, device)


def _load_base(model: torch.nn.Module, name: str, base: str, weights: WeightsFile) -> str:
    """Fill ``model`` with the base CLIP weights that ``weights`` lacks by design; returns their fingerprint."""
    lacking = ", ".join(weights.from_base)
    if base == "auto":
        if "openai" not in open_clip.list_pretrained_tags_by_model(name):
            log.warning("%s lacks %s and %s has no openai weights: those stay randomly initialised", weights.path, lacking, name)
            return "none"
        base = "openai"
    if base.lower() in NO_WEIGHTS:
        return "none"
    if is_weights_path(base):
        base_spec = describe_pretrained(name, base)
        load_state(model, read_weights(Path(base_spec.pretrained)))
        return base_spec.fingerprint
    try:
        source = _create_from_tag(name, base)
    except WeightsUnavailableError as exc:
        raise WeightsUnavailableError(
            f"{weights.path} is a {weights.format} checkpoint without {lacking} (never trained by ViFi-CLIP); "
            f"those come from the base CLIP weights {name}/{base}, which are unavailable: {exc}"
        ) from exc
    model.load_state_dict(source.state_dict())
    return f"open_clip:{name}:{base}"


def _create(name: str, **kwargs) -> torch.nn.Module:
    # Random initialisation is seeded, so 'none' means the same weights in every process (an index built
    # with --pretrained none is searchable by a server started later). The caller's RNG is left untouched.
    # open_clip warns that the model is "initialized randomly" even when we load weights ourselves.
    with _quiet_open_clip(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        return open_clip.create_model(name, pretrained=None, **kwargs)


def _create_from_tag(name: str, tag: str) -> torch.nn.Module:
    if tag not in open_clip.list_pretrained_tags_by_model(name):
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(name)) or "none"
        raise UnknownModelError(
            f"open_clip has no pretrained tag {tag!r} for {name}; known tags: {tags}; or pass a local weights file or 'none'"
        )
    cfg = open_clip.get_pretrained_cfg(name, tag)
    cached = _cached_weights(cfg)
    if cached is None and not _hub_reachable(cfg):
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


def _cached_weights(cfg: dict) -> str | None:
    """The path of already-downloaded weights for an open_clip pretrained cfg, without network."""
    hub = cfg.get("hf_hub", "")
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


def _hub_reachable(cfg: dict) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co") if cfg.get("hf_hub") else cfg.get("url", "")
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
