"""The index a server answers from: the published generation of one index dir, opened read-only, re-opened when a
build publishes a new one, and refused (the server keeps the one it has) when it was built with another model."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from app.errors import NoIndexError
from indexer import (
    MODEL_FIELDS,
    IndexCatalogError,
    IndexMismatchError,
    IndexNotFoundError,
    IndexReader,
    Manifest,
    ModelIdentity,
    compatibility_problems,
    open_index,
    published_name,
)
from models import VideoEncoder

log = logging.getLogger(__name__)


def model_problems(manifest: Manifest, encoder: VideoEncoder) -> list[str]:
    """Why ``encoder`` cannot search an index built as ``manifest`` (empty when it can): the manifest's one check."""
    spec = encoder.spec
    identity = ModelIdentity(model=spec.name, pretrained=spec.pretrained, weights_fingerprint=spec.fingerprint, dim=encoder.dim)
    return compatibility_problems(manifest, identity, MODEL_FIELDS, asked_by="server")


def refuse_other_model(index_dir: Path, manifest: Manifest | None, encoder: VideoEncoder) -> None:
    """At start-up: raise IndexMismatchError when the index in ``index_dir`` (``manifest``; None: no index yet)
    was built with another model than ``encoder``."""
    problems = model_problems(manifest, encoder) if manifest is not None else []
    if problems:
        raise IndexMismatchError(
            f"refusing to serve {index_dir}: {'; '.join(problems)}. Serve it without --model/"
            "--pretrained to use the index's own model, or rebuild the index with this model."
        )


@dataclass(frozen=True)
class IndexSummary:
    """What the server says about the index it serves (/healthz, the pages' footer)."""

    generation: str
    segments: int
    videos: int
    model: str
    pretrained: str
    created: str


class CurrentIndex:
    """The reader of the generation an index dir publishes, checked at most every ``reload_interval_s`` for a newer
    one. Readers are never closed when replaced: a request may still be searching the old one."""

    def __init__(self, index_dir: Path, encoder: VideoEncoder, db_url: str | None, reload_interval_s: float):
        self.index_dir = Path(index_dir)
        self.encoder = encoder
        self.db_url = db_url
        self.reload_interval_s = reload_interval_s
        self._lock = threading.Lock()
        self._reader: IndexReader | None = None
        self._current_name: str | None = None
        self._checked_at = 0.0
        self.refresh(force=True)

    def refresh(self, force: bool = False) -> None:
        """Switch to the generation published since the last look, if its model is the server's."""
        now = time.monotonic()
        if not force and now - self._checked_at < self.reload_interval_s:
            return
        with self._lock:
            self._checked_at = now
            name = published_name(self.index_dir)
            if name is not None and name != self._current_name:
                self._switch_to(name)
                self._current_name = name

    def _switch_to(self, name: str) -> None:
        try:
            reader = open_index(self.index_dir, self.db_url)
        except (IndexNotFoundError, IndexCatalogError, OSError, RuntimeError) as exc:
            if isinstance(exc, IndexCatalogError) and self._reader is None:
                raise  # at start-up: say which revision and what to run, instead of serving nothing
            log.error("cannot open index generation %s: %s", name, exc)
            return
        problems = model_problems(reader.manifest, self.encoder)
        if problems:
            log.error("not switching to index generation %s: %s", name, "; ".join(problems))
            reader.close()
            return
        if self._reader is not None:
            log.info("switched to index generation %s (%d segments)", name, reader.count)
        self._reader = reader

    @property
    def reader(self) -> IndexReader | None:
        """The current generation's reader; None while the dir holds no index the server can serve."""
        self.refresh()
        return self._reader

    def has_index(self) -> bool:
        return self.reader is not None

    def require(self) -> IndexReader:
        """The current reader (raises NoIndexError, a 503, when there is none)."""
        reader = self.reader
        if reader is None:
            raise NoIndexError.in_dir(self.index_dir)
        return reader

    def summary(self) -> IndexSummary | None:
        reader = self.reader
        if reader is None:
            return None
        m = reader.manifest
        return IndexSummary(reader.generation.name, reader.count, m.videos, m.model, m.pretrained, m.created)
