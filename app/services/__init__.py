"""What the routes and the CLI call: the model loaded once and the current index of one index dir
(:mod:`~app.services.current_index`), with search (:mod:`.search`), the library (:mod:`.library`) and
classification (:mod:`.classify`) over them. Routes reach the index only through these."""

from __future__ import annotations

import logging
from pathlib import Path

from app.batching import QueryEncoder
from app.errors import NoIndexError, NotAnImageError, NotFoundError
from app.services.classify import Classifier, Ranking, TimelineRun
from app.services.current_index import CurrentIndex, IndexSummary, model_problems, refuse_other_model
from app.services.library import Library, LibraryBrowser, ServedFile
from app.services.search import Hit, Ranked, Rows, SegmentSearch, Timeline, VideoHits, ranking_of
from app.settings import Settings, cache_root, model_to_load
from indexer import Facets, IndexReader, SegmentRecord, VideoFile, VideoFilter, VideoRecord, read_manifest
from indexer.clips import MAX_IMAGE_PIXELS, image_frame
from models import VideoEncoder, load_encoder
from models.engines import engine_encoder, engine_label

__all__ = [
    "MAX_IMAGE_PIXELS",
    "Facets",
    "Hit",
    "IndexSummary",
    "Library",
    "NoIndexError",
    "NotAnImageError",
    "NotFoundError",
    "ServedFile",
    "Timeline",
    "TimelineRun",
    "VideoFile",
    "VideoFilter",
    "VideoHits",
    "VidseekService",
    "image_frame",
    "model_problems",
]

log = logging.getLogger(__name__)


class VidseekService:
    """The encoder plus the current index of one index dir, composed of ``index`` (:class:`CurrentIndex`),
    ``search``, ``browser`` (the library) and ``classifier``; the methods below are what the routes and the CLI call."""

    def __init__(self, settings: Settings, encoder: VideoEncoder | None = None, query_engine: str = "auto"):
        """``query_engine``: what runs the text tower for search queries (models.engines: auto, torch, onnxruntime,
        openvino), at ``settings.text_precision``; classification and picture queries keep the torch model."""
        self.settings = settings
        self.index_dir = Path(settings.index_dir)
        manifest = read_manifest(self.index_dir)
        if encoder is None:
            encoder = load_encoder(*model_to_load(settings, manifest), settings.device)
        self.encoder = encoder
        refuse_other_model(self.index_dir, manifest, encoder)
        # Queries may run on a bfloat16 or int8 copy of the text tower, or on an engine; classification keeps the float model.
        self.text_encoder = query_encoder(encoder, query_engine, settings.text_precision)
        log.info("search queries are embedded with %s in %s", *engine_label(self.text_encoder, "text"))
        self.queries = QueryEncoder(
            self.text_encoder, threads=settings.query_threads_or_default, scan_threads=settings.scan_threads_or_default
        )
        self.index = CurrentIndex(self.index_dir, encoder, settings.db_url, settings.reload_interval_s)
        self.search = SegmentSearch(self.index, encoder, self.queries)
        self.browser = LibraryBrowser(self.index)
        self.classifier = Classifier(self.index, encoder, self.browser)

    # -- the current index
    @property
    def reader(self) -> IndexReader | None:
        return self.index.reader

    def has_index(self) -> bool:
        """Whether the server has an index to answer from (one it can serve)."""
        return self.index.has_index()

    def require_reader(self) -> IndexReader:
        return self.index.require()

    def index_summary(self) -> IndexSummary | None:
        return self.index.summary()

    # -- search (group: one row per "segment", per "moment" or per "video"; see app/services/search.py)
    def search_text(
        self,
        query: str,
        k: int,
        offset: int = 0,
        min_score: float | None = None,
        kind: str | None = None,
        group: str = "segment",
        ranking: str | None = None,
        text_weight: float = 1.0,
        videos: VideoFilter | None = None,
        sort: str = "relevance",
    ) -> Ranked:
        return self.search.text(
            query,
            k,
            offset,
            min_score,
            kind=kind,
            group=group,
            ranking=ranking,
            text_weight=text_weight,
            videos=videos,
            sort=sort,
        )

    def has_words(self) -> bool:
        """Whether the current index holds words beside its vectors (then searches are hybrid by default)."""
        return self.index.require().has_texts()

    def ranking(self, mode: str | None) -> str:
        """How a search by words with ``mode`` is ranked: ``mode``, or the index's default (:func:`ranking_of`)."""
        return ranking_of(self.index.require(), mode)

    def search_like(
        self,
        segment_id: int,
        k: int,
        offset: int = 0,
        min_score: float | None = None,
        kind: str | None = None,
        group: str = "segment",
        videos: VideoFilter | None = None,
    ) -> tuple[SegmentRecord, Rows, int]:
        return self.search.like(segment_id, k, offset, min_score, kind=kind, group=group, videos=videos)

    def search_image(
        self,
        data: bytes,
        k: int,
        offset: int = 0,
        min_score: float | None = None,
        kind: str | None = None,
        group: str = "segment",
    ) -> Ranked:
        return self.search.image(data, k, offset, min_score, kind=kind, group=group)

    def timeline(self, query: str, video_id: int) -> Timeline:
        """The words' score along a whole video, segment by segment (raises NotFoundError)."""
        return self.search.timeline(query, video_id)

    # -- browsing
    def library(self) -> Library:
        return self.browser.listing()

    def facets(self) -> Facets:
        """What the current index's files are, for filter controls (raises NoIndexError)."""
        return self.index.require().facets()

    def indexed_video(self, video_id: int) -> tuple[VideoRecord, list[SegmentRecord]]:
        return self.browser.indexed_video(video_id)

    def video_file(self, video_id: int) -> VideoFile:
        return self.browser.video_file(video_id)

    def preview(self, video_id: int) -> ServedFile:
        return self.browser.preview(video_id)

    def sprites(self, video_id: int, part: str) -> ServedFile:
        return self.browser.sprites(video_id, part)

    def photo(self, video_id: int) -> tuple[VideoFile | ServedFile, str]:
        return self.browser.photo(video_id)

    def segment(self, segment_id: int) -> SegmentRecord | None:
        return self.browser.segment(segment_id)

    def poster(self, segment_id: int):
        return self.browser.poster(segment_id)

    # -- classify
    def classify_file(
        self,
        path: Path,
        labels: list[str],
        template: str,
        start: float = 0.0,
        end: float | None = None,
        views: tuple[int, int] = (1, 1),
    ):
        return self.classifier.file(path, labels, template, start, end, views=views)

    def classify_segment(self, segment_id: int, labels: list[str], template: str) -> Ranking:
        return self.classifier.segment(segment_id, labels, template)

    def classify_video(self, video_id: int, labels: list[str], template: str) -> Ranking:
        return self.classifier.video(video_id, labels, template)

    # -- the action timeline: the top label over time (see app/services/classify.py)
    def classify_video_timeline(self, video_id: int, labels: list[str], template: str) -> list[TimelineRun]:
        return self.classifier.video_timeline(video_id, labels, template)

    def classify_file_timeline(
        self, path: Path, labels: list[str], template: str, segment_seconds: float | None = None
    ) -> list[TimelineRun]:
        return self.classifier.file_timeline(path, labels, template, segment_seconds)


def query_encoder(encoder: VideoEncoder, engine: str, precision: str) -> VideoEncoder:
    """The encoder that embeds search queries: ``encoder``'s text tower on ``engine`` at ``precision``, its graphs
    cached beside local weights or under the user's cache folder (models.engines)."""
    return engine_encoder(encoder, engine, precision, "text", cache_root() / "engines")
