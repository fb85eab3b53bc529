"""The manifest (``manifest.json``): what an index was built with, and the one check of whether a build's settings
or a server's model fit a published index.

A build must match every setting that decides what the vectors are (:data:`BUILD_FIELDS`); a server only the
model (:data:`MODEL_FIELDS`): frames and sampling are the build's business, the server only embeds queries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from indexer.errors import ExternalCatalogError, IndexNotFoundError
from indexer.index_dir.catalog import sqlite_url
from indexer.index_dir.layout import CATALOG, MANIFEST, current_generation

MANIFEST_VERSION = 1
# Which frame a sampled instant takes: "containing", the frame shown at it (pts <= t < next pts, ViFi-CLIP's
# floor((i + 0.5) * N / T)); "nearest", the frame whose start is nearest (vidseek before it; the manifest of an
# index built then has no such field and reads as it).
SAMPLING = "containing"
SAMPLING_BEFORE_THE_FIELD = "nearest"
PROMPTED_MARK = "+vl:"  # in a VL-prompted model's fingerprint (models.vl_prompts.prompted_spec)


@dataclass
class Manifest:
    """What an index was built with: enough to refuse a mismatched model and to rebuild it."""

    model: str
    pretrained: str
    weights_fingerprint: str
    dim: int
    frames: int
    segment_seconds: float  # the windows of the fixed segmenter (recorded, unused, by a shots build)
    preprocess: dict
    # How videos were cut: "fixed" windows of segment_seconds (every index built before the field), or "shots"
    # (indexer/segmenters/shots.py) with its longest and shortest segment (None for fixed).
    segmenter: str = "fixed"
    max_segment_seconds: float | None = None
    min_segment_seconds: float | None = None
    index_type: str = "flat"  # the search index published: flat, hnsw or ivfpq (see indexer/index_dir/ann.py)
    metric: str = "inner_product"
    count: int = 0
    videos: int = 0
    failed: int = 0
    library: str = ""
    decoder: str = "pyav"
    sampling: str = SAMPLING
    catalog: str = "sqlite"
    # An external catalog's dialect, host, port and database (indexer.index_dir.catalog.catalog_location); {} for SQLite.
    catalog_location: dict = field(default_factory=dict)
    created: str = ""
    # The model's VL prompts ({"kind": "vl", "tokens", "depth", "base_pretrained", "base_fingerprint"}; None: none, and
    # in manifests written before the field). What they are is in the fingerprint ("<base>+vl:<hash>"); this says it.
    prompts: dict | None = None
    format_version: int = MANIFEST_VERSION
    extra: dict = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> "Manifest":
        data = json.loads(path.read_text())
        known = {f for f in cls.__dataclass_fields__}
        data.setdefault("sampling", SAMPLING_BEFORE_THE_FIELD)
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @property
    def fast_seek(self) -> bool:
        """Built with --fast-seek (the keyframe decoder), which samples other frames."""
        return self.decoder == "pyav-keyframes"

    def compatibility_problems(self, other: "Manifest") -> list[str]:
        """How ``other`` (what a build asks for) differs from what this index was built with."""
        return compatibility_problems(self, other)


@dataclass(frozen=True)
class ModelIdentity:
    """Which model makes the vectors (a loaded encoder's name, pretrained tag, weights fingerprint and dimension):
    what a server must share with the index it serves. Its fields are named as the manifest's."""

    model: str
    pretrained: str
    weights_fingerprint: str
    dim: int


MODEL_FIELDS = ("model", "weights_fingerprint", "dim")  # what a server's model must match
# What a build must match (segment_seconds only between fixed builds: compatibility_problems).
BUILD_FIELDS = (
    *MODEL_FIELDS,
    "frames",
    "segmenter",
    "segment_seconds",
    "max_segment_seconds",
    "min_segment_seconds",
    "preprocess",
    "fast_seek",
    "sampling",
)


def compatibility_problems(
    published: Manifest, wanted: Manifest | ModelIdentity, fields: Sequence[str] = BUILD_FIELDS, asked_by: str = "build"
) -> list[str]:
    """How ``wanted`` differs from what the index ``published`` was built with, in ``fields``: one line each,
    worded for a build (``asked_by="build"``: ``wanted`` is its manifest) or for a server (``"server"``:
    ``wanted`` is its loaded model, usually a :class:`ModelIdentity`). Empty when they fit."""
    if asked_by not in _WORDING:
        raise ValueError(f"asked_by is 'build' or 'server', not {asked_by!r}")
    return [
        _WORDING[asked_by](name, published, wanted)
        for name in fields
        if getattr(published, name) != getattr(wanted, name) and not _unused(name, published, wanted)
    ]


SEGMENTER_PARAMETERS = ("segment_seconds", "max_segment_seconds", "min_segment_seconds")


def _unused(name: str, published: Manifest, wanted: Manifest | ModelIdentity) -> bool:
    """A segmenter's parameter not worth a line: the segmenters differ (that line says it all), or both cut shots,
    which leave the fixed windows' length unused."""
    if name not in SEGMENTER_PARAMETERS or not hasattr(wanted, "segmenter"):
        return False
    if published.segmenter != wanted.segmenter:
        return True
    return name == "segment_seconds" and published.segmenter == "shots"


def _build_wording(name: str, published: Manifest, wanted: Manifest) -> str:
    if name == "segmenter":
        return (
            f"segmenter: index cut into {published.segmenter!r} segments, asked for {wanted.segmenter!r} "
            "(the segments decide the vectors: switching re-cuts every video)"
        )
    if name == "fast_seek":
        return f"fast seek: index built {'with' if published.fast_seek else 'without'} --fast-seek"
    if name == "sampling" and wanted.sampling == SAMPLING:
        return (
            f"sampling: index has {published.sampling!r}, asked for {wanted.sampling!r} (vidseek now takes the frame "
            "shown at each sampled instant, as ViFi-CLIP does)"
        )
    line = f"{name}: index has {getattr(published, name)!r}, asked for {getattr(wanted, name)!r}"
    return line + (_prompts_differ(published, wanted, "this build's model") if name == "weights_fingerprint" else "")


def _server_wording(name: str, published: Manifest, wanted: Manifest | ModelIdentity) -> str:
    if name == "model":
        return f"the index was built with model {published.model!r}, the server runs {wanted.model!r}"
    if name == "weights_fingerprint":
        return (
            f"the index was built with {_prompted(published)}weights {published.pretrained!r} ({published.weights_fingerprint}), "
            f"the server loaded {_prompted(wanted)}{wanted.pretrained!r} ({wanted.weights_fingerprint})"
            + _prompts_differ(published, wanted, "the server")
        )
    if name == "dim":
        return f"the index holds {published.dim}-d vectors, the model makes {wanted.dim}-d ones"
    return f"{name}: the index has {getattr(published, name)!r}, the server {getattr(wanted, name)!r}"


def _is_prompted(side: Manifest | ModelIdentity) -> bool:
    return PROMPTED_MARK in side.weights_fingerprint


def _prompted(side: Manifest | ModelIdentity) -> str:
    """What goes before a prompted side's weights in a message: VL-prompted, with the prompts' shape if recorded."""
    if not _is_prompted(side):
        return ""
    shape = getattr(side, "prompts", None)
    return f"VL-prompted ({shape['tokens']} tokens, depth {shape['depth']}) " if shape else "VL-prompted "


def _prompts_differ(published: Manifest, wanted: Manifest | ModelIdentity, asker: str) -> str:
    """Where one side has prompts and the other not, say so: their vectors differ though the base weights may not."""
    if _is_prompted(published) == _is_prompted(wanted):
        return ""
    if _is_prompted(published):
        return f"; the index's vectors come from VL prompts {asker} lacks (--pretrained {published.pretrained})"
    return f"; the index was built without the VL prompts {asker} has: build it with them, or use the base weights"


_WORDING = {"build": _build_wording, "server": _server_wording}


def no_index(root: Path) -> IndexNotFoundError:
    """The error for a folder with no published index, saying how to build one."""
    return IndexNotFoundError(f"no index in {root}: build one with 'vidseek index build LIBRARY --index-dir {root}'")


def read_manifest(root: Path) -> Manifest | None:
    """The manifest of the index published in ``root``; None when there is none."""
    gen = current_generation(Path(root))
    return Manifest.read(gen / MANIFEST) if gen else None


def published(root: Path) -> tuple[Path, Manifest]:
    """The published generation's folder and its manifest (raises :class:`IndexNotFoundError`)."""
    generation = current_generation(root)
    if generation is None:
        raise no_index(root)
    return generation, Manifest.read(generation / MANIFEST)


def catalog_url(root: Path, generation: Path, manifest: Manifest, db_url: str | None, readonly: bool) -> str:
    """Where the catalog of ``generation`` is: its own SQLite file, or the external database ``db_url`` (raises
    :class:`ExternalCatalogError` when the manifest says external and no URL is given)."""
    if manifest.catalog == "external":
        if not db_url:
            raise ExternalCatalogError(root, manifest.catalog_location)
        return db_url
    return sqlite_url(generation / CATALOG, readonly=readonly)
