"""What the routes and the CLI call: the loaded encoder, the current index (hot-reloaded), search, classify.

The model is loaded once. The index is re-opened when a build publishes a new generation, so a live
server switches to it without a restart; a generation made with another model is refused and the
server keeps answering from the one it has.
"""

from __future__ import annotations

import io
import logging
import threading
import time
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from app.batching import QueryEncoder
from app.errors import NoIndexError, NotAnImageError, NotFoundError  # noqa: F401 (re-exported)
from app.settings import Settings, model_to_load
from indexer.build import POSTER_SHORT_SIDE
from indexer.catalog import VIDEO_INDEXED, Video
from indexer.decode import MAX_ASPECT_RATIO, FrameSizeError, scaled_size
from indexer.store import (
    CURRENT,
    IndexCatalogError,
    IndexMismatchError,
    IndexNotFoundError,
    IndexReader,
    Manifest,
    SegmentRecord,
    VideoFileError,
    read_manifest,
)
from indexer.tasks import read_clip
from models import VideoEncoder, load_encoder
from models.quantize import text_encoder_at, text_precision

log = logging.getLogger(__name__)


MAX_IMAGE_PIXELS = 64_000_000  # a decompression bomb is refused before it is decoded


@dataclass(frozen=True)
class Hit:
    segment: SegmentRecord
    score: float


@dataclass(frozen=True)
class LibraryVideo:
    """One catalogued file as the library page shows it."""

    video_id: int
    path: str
    title: str
    status: str
    error: str | None
    duration: float | None
    width: int | None
    height: int | None
    fps: float | None
    segments: int
    indexed_at: datetime | None


@dataclass(frozen=True)
class Library:
    manifest: Manifest
    generation: str
    indexed: list[LibraryVideo]
    failed: list[LibraryVideo]


def image_frame(data: bytes, short_side: int) -> np.ndarray:
    """An uploaded picture as a one-frame clip [1, H, W, 3] uint8, its short side scaled to ``short_side``
    the way indexed frames are (:func:`~indexer.decode.scaled_size`, which bounds the scaled size), so a picture
    and a clip of it land near each other. Raises NotAnImageError."""
    try:
        image = _decoded_image(data, short_side)
        size = scaled_size(image.width, image.height, short_side)  # after JPEG draft and EXIF rotation
    except FrameSizeError as exc:
        raise NotAnImageError(
            f"the image is {exc.width}x{exc.height} pixels, too elongated to search by: "
            f"at most {MAX_ASPECT_RATIO:g}:1 (long side to short side) is accepted"
        ) from None
    image = image.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)
    return np.array(image, dtype=np.uint8)[None]  # a writable copy: torch wants one


def _decoded_image(data: bytes, short_side: int) -> Image.Image:
    """The picture decoded to RGB, after its header passed the pixel cap and the aspect-ratio bound."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            pixels = image.width * image.height
            if 0 < pixels <= MAX_IMAGE_PIXELS:
                scaled_size(image.width, image.height, short_side)  # a 1x60000 strip is refused from its header
                image.draft("RGB", (short_side, short_side))  # JPEG: decode at a reduced size when it can
                image = ImageOps.exif_transpose(image).convert("RGB")  # an animation gives its first frame
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        pixels = MAX_IMAGE_PIXELS + 1
    except UnidentifiedImageError:
        raise NotAnImageError("not an image: send a PNG, JPEG, WebP, GIF or BMP picture") from None
    except (OSError, SyntaxError, ValueError) as exc:  # a known format, but damaged or truncated
        raise NotAnImageError(f"the image could not be decoded: {exc}") from None
    if not 0 < pixels <= MAX_IMAGE_PIXELS:
        raise NotAnImageError(f"the image has {pixels:,} pixels: at most {MAX_IMAGE_PIXELS:,} are accepted")
    return image


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
        # Queries may run on a bfloat16 or int8 copy of the text tower; classification keeps the float model.
        self.text_encoder = text_encoder_at(self.encoder, settings.text_precision)
        log.info("search queries are embedded in %s", text_precision(self.text_encoder))
        self.queries = QueryEncoder(
            self.text_encoder, threads=settings.query_threads_or_default, scan_threads=settings.scan_threads_or_default
        )
        self._refresh(force=True)

    def _load_encoder(self, manifest: Manifest | None) -> VideoEncoder:
        name, pretrained = model_to_load(self.settings, manifest)
        return load_encoder(name, pretrained, self.settings.device)

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
            except (IndexNotFoundError, IndexCatalogError, OSError, RuntimeError) as exc:
                if isinstance(exc, IndexCatalogError) and self._reader is None:
                    raise  # at start-up: say which revision and what to run, instead of serving nothing
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
        scored, total = self.queries.search(reader, query, k, offset, min_score)
        return _hits(reader, scored), total

    def search_vector(
        self, reader: IndexReader, vector: np.ndarray, k: int, offset: int, min_score: float | None
    ) -> tuple[list[Hit], int]:
        scored, total = self.queries.search_vector(reader, vector, k, offset, min_score)
        return _hits(reader, scored), total

    def search_like(
        self, segment_id: int, k: int, offset: int = 0, min_score: float | None = None
    ) -> tuple[SegmentRecord, list[Hit], int]:
        """More like this: the segments nearest to an indexed segment's own vector, the segment itself
        left out (it would always come first, at 1.0). Returns the query segment too."""
        reader = self.require_reader()
        vector = reader.segment_vector(segment_id)
        record = reader.segments([segment_id]).get(segment_id) if vector is not None else None
        if vector is None or record is None:
            raise NotFoundError(f"no segment {segment_id} in the index")
        scored, total = self.queries.search_vector(reader, vector, offset + k + 1, 0, min_score)
        others = [(i, s) for i, s in scored if i != segment_id]
        if min_score is None or len(others) < len(scored) or float(vector @ vector) >= min_score:
            total -= 1  # the total counted the query segment too
        return record, _hits(reader, others[offset : offset + k]), max(0, total)

    def search_image(self, data: bytes, k: int, offset: int = 0, min_score: float | None = None) -> tuple[list[Hit], int]:
        """Query by picture: the image is a one-frame clip through the video encoder (raises NotAnImageError)."""
        reader = self.require_reader()
        frame = image_frame(data, max(self.encoder.preprocess.resize, POSTER_SHORT_SIDE))
        vector = self.encoder.encode_video(frame)
        return self.search_vector(reader, vector, k, offset, min_score)

    # -- browsing
    def library(self) -> Library:
        """Every catalogued file of the current index with its segment count, and the failures with their errors."""
        reader = self.require_reader()
        entries = [_library_video(video, count, reader.manifest.library) for video, count in reader.videos_with_segment_counts()]
        return Library(
            manifest=reader.manifest,
            generation=reader.generation.name,
            indexed=[e for e in entries if e.status == VIDEO_INDEXED],
            failed=[e for e in entries if e.status != VIDEO_INDEXED],
        )

    def indexed_video(self, video_id: int) -> tuple[Video, list[SegmentRecord]]:
        """An indexed video and its segments in time order (raises NotFoundError)."""
        reader = self.require_reader()
        video = reader.video(video_id)
        if video is None or video.status != VIDEO_INDEXED:
            raise NotFoundError(f"no indexed video {video_id}")
        segments = [SegmentRecord(s.id, video.id, video.path, s.start, s.end) for s in video.segments]
        return video, segments

    # -- classify
    def frames_per_clip(self) -> int:
        reader = self.reader
        return reader.manifest.frames if reader is not None else 8

    def classify_file(self, path: Path, labels: list[str], template: str, start: float = 0.0, end: float | None = None):
        """Decodes ``path`` (raises indexer.decode.DecodeError when it is no video) and classifies it."""
        short_side = max(self.encoder.preprocess.resize, POSTER_SHORT_SIDE)
        clip = read_clip(str(path), self.frames_per_clip(), short_side, start, end)
        return self.encoder.classify(clip, labels, template)

    def classify_segment(self, segment_id: int, labels: list[str], template: str):
        reader = self.require_reader()
        vector = reader.segment_vector(segment_id)
        if vector is None:
            raise NotFoundError(f"no segment {segment_id} in the index")
        return self.encoder.classify_vector(vector, labels, template)

    def classify_video(self, video_id: int, labels: list[str], template: str):
        reader = self.require_reader()
        video = reader.video(video_id)
        if video is None or video.status != "indexed":
            raise NotFoundError(f"no indexed video {video_id}")
        try:  # the file /videos would serve, never one swapped in since it was indexed
            checked = reader.open_video_file(video)
        except VideoFileError as exc:
            raise NotFoundError(str(exc)) from None
        with checked:
            return self.classify_file(checked.path, labels, template, 0.0, video.duration)


def _hits(reader: IndexReader, scored: list[tuple[int, float]]) -> list[Hit]:
    records = reader.segments(i for i, _ in scored)
    # A vector whose catalog row is gone (external catalog mid-update) is skipped, never shown broken.
    return [Hit(records[i], s) for i, s in scored if i in records]


def _library_video(video: Video, segments: int, library_root: str) -> LibraryVideo:
    path = Path(video.path)
    try:
        shown = str(path.relative_to(library_root)) if library_root else str(path)
    except ValueError:
        shown = str(path)
    return LibraryVideo(
        video_id=video.id,
        path=shown,
        title=path.name,
        status=video.status,
        error=video.error,
        duration=video.duration,
        width=video.width,
        height=video.height,
        fps=video.fps,
        segments=int(segments),
        indexed_at=video.indexed_at,
    )
