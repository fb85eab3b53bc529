"""What the routes and the CLI call: the loaded encoder, the current index (hot-reloaded), search, classify.

The model is loaded once. The index is re-opened when a build publishes a new generation, so a live
server switches to it without a restart; a generation made with another model is refused and the
server keeps answering from the one it has.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.settings import DEFAULT_MODEL, DEFAULT_PRETRAINED, Settings
from indexer.build import POSTER_SHORT_SIDE
from indexer.store import (
    CURRENT,
    IndexMismatchError,
    IndexNotFoundError,
    IndexReader,
    Manifest,
    SegmentRecord,
    read_manifest,
)
from indexer.tasks import read_clip
from models import VideoEncoder, load_encoder
from models.encoder import zero_shot_probabilities

log = logging.getLogger(__name__)


class NoIndexError(Exception):
    """The server has no index to search yet."""


class NotFoundError(Exception):
    """A segment or video id that the index does not hold."""


@dataclass(frozen=True)
class Hit:
    segment: SegmentRecord
    score: float


def model_problems(manifest: Manifest, encoder: VideoEncoder) -> list[str]:
    """Why ``encoder`` cannot search an index built as ``manifest`` (empty when it can)."""
    problems = []
    if manifest.model != encoder.spec.name:
        problems.append(f"the index was built with model {manifest.model!r}, the server runs {encoder.spec.name!r}")
    if manifest.weights_fingerprint != encoder.spec.fingerprint:
        problems.append(
            f"the index was built with weights {manifest.pretrained!r} ({manifest.weights_fingerprint}), "
            f"the server loaded {encoder.spec.pretrained!r} ({encoder.spec.fingerprint})"
        )
    if manifest.dim != encoder.dim:
        problems.append(f"the index holds {manifest.dim}-d vectors, the model makes {encoder.dim}-d ones")
    return problems


class VidseekService:
    """The encoder plus the current index of one index dir."""

    def __init__(self, settings: Settings, encoder: VideoEncoder | None = None):
        self.settings = settings
        self.index_dir = Path(settings.index_dir)
        self._lock = threading.Lock()
        self._reader: IndexReader | None = None
        self._current_name: str | None = None
        self._checked_at = 0.0
        manifest = read_manifest(self.index_dir)
        self.encoder = encoder or self._load_encoder(manifest)
        if manifest is not None:
            problems = model_problems(manifest, self.encoder)
            if problems:
                raise IndexMismatchError(
                    f"refusing to serve {self.index_dir}: {'; '.join(problems)}. Serve it without --model/"
                    "--pretrained to use the index's own model, or rebuild the index with this model."
                )
        self._refresh(force=True)

    def _load_encoder(self, manifest: Manifest | None) -> VideoEncoder:
        s = self.settings
        name = s.model or (manifest.model if manifest else DEFAULT_MODEL)
        pretrained = s.pretrained or (manifest.pretrained if manifest else DEFAULT_PRETRAINED)
        return load_encoder(name, pretrained, s.device)

    # -- the current index
    def _refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked_at < self.settings.reload_interval_s:
            return
        with self._lock:
            self._checked_at = now
            try:
                name = (self.index_dir / CURRENT).read_text().strip()
            except FileNotFoundError:
                return
            if name == self._current_name:
                return
            try:
                reader = IndexReader(self.index_dir, self.settings.db_url)
            except (IndexNotFoundError, OSError, RuntimeError) as exc:
                log.error("cannot open index generation %s: %s", name, exc)
                self._current_name = name
                return
            problems = model_problems(reader.manifest, self.encoder)
            if problems:
                log.error("not switching to index generation %s: %s", name, "; ".join(problems))
                reader.close()
            else:
                if self._reader is not None:
                    log.info("switched to index generation %s (%d segments)", name, reader.count)
                self._reader = reader
            self._current_name = name

    @property
    def reader(self) -> IndexReader | None:
        self._refresh()
        return self._reader

    def require_reader(self) -> IndexReader:
        reader = self.reader
        if reader is None:
            raise NoIndexError(
                f"no index in {self.index_dir} yet: build one with 'vidseek index build LIBRARY --index-dir {self.index_dir}'"
            )
        return reader

    # -- search
    def search_text(self, query: str, k: int, offset: int = 0, min_score: float | None = None) -> tuple[list[Hit], int]:
        reader = self.require_reader()
        vector = self.encoder.encode_text([query])[0]
        return self.search_vector(reader, vector, k, offset, min_score)

    @staticmethod
    def search_vector(
        reader: IndexReader, vector: np.ndarray, k: int, offset: int, min_score: float | None
    ) -> tuple[list[Hit], int]:
        scored, total = reader.search(vector, k, offset, min_score)
        records = reader.segments(i for i, _ in scored)
        # A vector whose catalog row is gone (external catalog mid-update) is skipped, never shown broken.
        return [Hit(records[i], s) for i, s in scored if i in records], total

    # -- classify
    def classify_vector(self, vector: np.ndarray, labels: list[str], template: str) -> list[tuple[str, float, float]]:
        label_vectors = self.encoder.encode_text(labels, template)
        scores = label_vectors @ vector
        probabilities = zero_shot_probabilities(scores, self.encoder.logit_scale)
        order = np.argsort(-probabilities, kind="stable")
        return [(labels[i], float(scores[i]), float(probabilities[i])) for i in order]

    def frames_per_clip(self) -> int:
        reader = self.reader
        return reader.manifest.frames if reader is not None else 8

    def classify_file(self, path: Path, labels: list[str], template: str, start: float = 0.0, end: float | None = None):
        """Decodes ``path`` (raises indexer.decode.DecodeError when it is no video) and classifies it."""
        short_side = max(self.encoder.preprocess.resize, POSTER_SHORT_SIDE)
        clip = read_clip(str(path), self.frames_per_clip(), short_side, start, end)
        return self.classify_vector(self.encoder.encode_video(clip), labels, template)

    def classify_segment(self, segment_id: int, labels: list[str], template: str):
        reader = self.require_reader()
        vector = reader.segment_vector(segment_id)
        if vector is None:
            raise NotFoundError(f"no segment {segment_id} in the index")
        return self.classify_vector(vector, labels, template)

    def classify_video(self, video_id: int, labels: list[str], template: str):
        reader = self.require_reader()
        video = reader.video(video_id)
        if video is None or video.status != "indexed":
            raise NotFoundError(f"no indexed video {video_id}")
        return self.classify_file(Path(video.path), labels, template, 0.0, video.duration)
