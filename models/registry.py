"""Pretrained weights: the one place a ``--pretrained`` value resolves to where the weights come from.

:func:`resolve` turns every kind of value into :class:`Weights`, so the CLI, the indexer, the server and the base
weights of a ViFi-CLIP checkpoint all go through the same function:

* ``none`` (also ``random`` or empty): random initialisation, seeded (:data:`RANDOM_INIT_SEED`);
* a local file (a weights suffix, a path separator, or an existing path): its absolute path and sha256;
* anything else: an open_clip pretrained tag, checked against open_clip's own list; its source is open_clip's
  Hugging Face hub repo (downloaded first) and direct URL.

:data:`REGISTERED` holds the tags vidseek's own code names (the default model, the base weights of ViFi-CLIP's
backbone) with the sha256 of their release file. Importing this module loads neither torch nor open_clip.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from models.errors import PretrainedLoadError, UnknownModelError

NO_WEIGHTS = ("none", "random", "")
WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")
# Random initialisation is seeded, so 'none' means the same weights in every process (an index built with
# --pretrained none is searchable by a server started later).
RANDOM_INIT_SEED = 0

DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "openai"
# The tag ``base="auto"`` takes the keys a ViFi-CLIP checkpoint lacks by design (token_embedding) from.
BASE_PRETRAINED = "openai"

RANDOM, OPEN_CLIP, FILE = "random", "open_clip", "file"


@dataclass(frozen=True)
class Registered:
    """A pretrained tag vidseek's own code names, with the sha256 of its release file."""

    model: str
    tag: str
    sha256: str  # of the file at open_clip's direct URL for the tag (OpenAI's release; open_clip checks it there)
    why: str


REGISTERED: dict[tuple[str, str], Registered] = {
    (r.model, r.tag): r
    for r in (
        Registered(
            DEFAULT_MODEL,
            DEFAULT_PRETRAINED,
            "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
            "the default model of every command and of the server",
        ),
        Registered(
            "ViT-B-16",
            BASE_PRETRAINED,
            "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f",
            "ViFi-CLIP's backbone: its released checkpoints take token_embedding from these weights (base 'auto')",
        ),
    )
}


@dataclass(frozen=True)
class Weights:
    """Where one model's weights come from: what :func:`resolve` makes of a ``--pretrained`` value."""

    model: str
    pretrained: str  # as an index manifest records it: 'none', the open_clip tag, or the file's absolute path
    kind: str  # RANDOM, OPEN_CLIP or FILE
    hf_hub: str = ""  # open_clip's Hugging Face repo (and file) for the tag, tried first
    url: str = ""  # open_clip's direct download for the tag
    path: Path | None = None  # the local file
    sha256: str | None = None  # of the local file; of the file at ``url`` where registered

    @property
    def fingerprint(self) -> str:
        """What an index manifest records to tell these weights from others (``weights_fingerprint``)."""
        if self.kind == RANDOM:
            return "none"
        if self.kind == FILE:
            return f"sha256:{self.sha256}"
        return f"open_clip:{self.model}:{self.pretrained}"

    @property
    def source(self) -> str:
        """Where the weights are read from, in words."""
        if self.kind == RANDOM:
            return f"random initialisation (seed {RANDOM_INIT_SEED})"
        if self.kind == FILE:
            return str(self.path)
        return f"hf-hub:{self.hf_hub}" if self.hf_hub else self.url


def is_weights_path(pretrained: str) -> bool:
    """Whether ``pretrained`` names a local file rather than a tag."""
    return pretrained.lower().endswith(WEIGHT_SUFFIXES) or os.sep in pretrained or Path(pretrained).exists()


def file_fingerprint(path: Path) -> str:
    """``sha256:<hex>`` of the file at ``path`` (the fingerprint an index records for a weights file)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def resolve(model: str, pretrained: str) -> Weights:
    """Where ``model``'s ``pretrained`` weights come from.

    Raises :class:`PretrainedLoadError` for a weights file that does not exist and :class:`UnknownModelError` for
    a tag open_clip does not know for ``model``. Reads a local file once, for its sha256; touches no network.
    """
    if pretrained.lower() in NO_WEIGHTS:
        return Weights(model, "none", RANDOM)
    if is_weights_path(pretrained):
        path = Path(pretrained).expanduser().resolve()
        if not path.is_file():
            raise PretrainedLoadError(f"weights file not found: {path}")
        return Weights(model, str(path), FILE, path=path, sha256=file_fingerprint(path).removeprefix("sha256:"))
    return _open_clip_tag(model, pretrained)


def _open_clip_tag(model: str, tag: str) -> Weights:
    import open_clip

    known = open_clip.list_pretrained_tags_by_model(model)
    if tag not in known:
        raise UnknownModelError(
            f"open_clip has no pretrained tag {tag!r} for {model}; known tags: {', '.join(known) or 'none'}; "
            "or pass a local weights file or 'none'"
        )
    cfg = open_clip.get_pretrained_cfg(model, tag)
    registered = REGISTERED.get((model, tag))
    sha256 = registered.sha256 if registered else None
    return Weights(model, tag, OPEN_CLIP, hf_hub=cfg.get("hf_hub", ""), url=cfg.get("url", ""), sha256=sha256)
