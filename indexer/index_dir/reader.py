"""The read side of the index dir, all the server uses: a published generation opened read-only, its vectors
searched, its catalog read as plain records.

It hands out a video's file only through :meth:`IndexReader.open_video_file`, which checks that the file is inside
the library and is still the one that was indexed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import faiss
import numpy as np
from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from indexer.errors import IndexCatalogError, IndexNotFoundError
from indexer.index_dir.ann import PQ_REFINE, tune_for_search
from indexer.index_dir.catalog import (
    CatalogError,
    Segment,
    TextEntry,
    Video,
    catalog_revision,
    check_catalog_revision,
    connect,
    describe_url,
)
from indexer.index_dir.flat_search import Hits, VectorSearch
from indexer.index_dir.layout import RERANK, SEARCH, VECTORS, preview_path, sprite_paths, thumbnail_path
from indexer.index_dir.manifest import Manifest, catalog_url, published
from indexer.index_dir.records import VIDEO_INDEXED, Facets, SegmentRecord, VideoFilter, VideoRecord
from indexer.index_dir.rerank import open_rerank_store
from indexer.index_dir.text import TextHit, search_texts
from indexer.index_dir.video_files import VideoFile, open_indexed_file
from models.encoder import native_bfloat16

FILTER_CACHE = 16  # filtered id sets kept (each up to 8 bytes per segment)
FACET_FOLDERS = 500  # the folders :meth:`IndexReader.facets` names (the most common), enough for a picker


class IndexReader:
    """A published generation opened read-only: search vectors, map ids to segments and videos."""

    def __init__(self, root: Path, db_url: str | None = None, bf16_scan: bool | None = None):
        """``bf16_scan``: let an exact flat search find its candidates in a bfloat16 copy of the vectors (1.5x the
        memory, ~3x faster) and re-score them exactly; default: where the CPU multiplies bfloat16 in hardware.
        Raises IndexNotFoundError, ExternalCatalogError (no URL for an external catalog), IndexCatalogError."""
        self.root = Path(root)
        self.bf16_scan = native_bfloat16() if bf16_scan is None else bf16_scan
        self.generation, self.manifest = published(self.root)
        self._search = open_search(self.generation, self.manifest.index_type, self.manifest.extra.get("ann", {}), self.bf16_scan)
        self.index = self._search.index
        self._segment_ids: dict[tuple[str | None, VideoFilter | None], np.ndarray] = {}
        self._has_texts: bool | None = None
        self._facets: Facets | None = None
        url = catalog_url(self.root, self.generation, self.manifest, db_url, readonly=True)
        self.engine = connect(url, readonly=True)
        try:
            check_catalog_revision(self.engine, upgrade_command=_upgrade_command(self.root, self.manifest, db_url))
        except (CatalogError, SQLAlchemyError) as exc:
            self.engine.dispose()
            raise IndexCatalogError(f"cannot read the catalog of the index in {self.root}: {exc}") from exc

    @property
    def count(self) -> int:
        """How many vectors (segments) the index holds."""
        return int(self.index.ntotal)

    def close(self) -> None:
        self.engine.dispose()

    # -- vectors
    def search(
        self, query: np.ndarray, k: int, offset: int = 0, min_score: float | None = None, allowed: np.ndarray | None = None
    ) -> tuple[Hits, int]:
        """Top ``offset..offset+k`` (segment id, score) by inner product, and how many match in all; among the
        segment ids ``allowed`` only, when given (e.g. :meth:`segment_ids` of a kind)."""
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        return self.search_batch(query, [k], [offset], [min_score], None if allowed is None else [allowed])[0]

    def search_batch(
        self,
        queries: np.ndarray,
        ks: Sequence[int],
        offsets: Sequence[int],
        min_scores: Sequence[float | None],
        allowed: Sequence[np.ndarray | None] | None = None,
    ) -> list[tuple[Hits, int]]:
        """:meth:`search` for many queries at once: row ``i`` of ``queries`` [N, D] with ``ks[i]``, ``offsets[i]``,
        ``min_scores[i]`` and ``allowed[i]`` (sorted segment ids; None: all). The vectors are read once for all N,
        far cheaper than N searches; a filter restricts the search itself (the true top among the allowed, see
        :meth:`VectorSearch.search_batch <indexer.index_dir.flat_search.VectorSearch.search_batch>`)."""
        return self._search.search_batch(queries, ks, offsets, min_scores, allowed)

    def segment_vector(self, segment_id: int) -> np.ndarray | None:
        """An indexed segment's own vector (None: no such segment); float16-rounded where the index re-ranks from
        its float16 store (:mod:`indexer.index_dir.rerank`)."""
        search = self._search
        if search.rerank is None:
            try:
                return self.index.reconstruct(int(segment_id))
            except RuntimeError:
                return None
        subset = search.positions.subset(np.array([segment_id], np.int64))
        return search.rerank.vector(int(subset.positions[0])) if len(subset) else None

    def has_texts(self) -> bool:
        """Whether the catalog holds any words (read once: a reader serves one published generation)."""
        if self._has_texts is None:
            with self.engine.connect() as connection:
                self._has_texts = connection.execute(select(TextEntry.id).limit(1)).first() is not None
        return self._has_texts

    def search_texts(self, query: str, limit: int) -> list[TextHit]:
        """The catalog's words matching ``query``, best first (:func:`~indexer.index_dir.text.search_texts`)."""
        return search_texts(self.engine, query, limit)

    def thumbnail_path(self, segment_id: int) -> Path:
        return thumbnail_path(self.root, segment_id)

    def preview_path(self, video_id: int) -> Path:
        """A video's browser-playable preview (H.264 in MP4), where the preview stage made one."""
        return preview_path(self.root, video_id)

    def sprite_paths(self, video_id: int) -> tuple[Path, Path]:
        """A video's sprite sheet (JPEG) and its WebVTT thumbnails track, where the preview stage made them."""
        return sprite_paths(self.root, video_id)

    def segment_ids(self, kind: str | None = None, videos: VideoFilter | None = None) -> np.ndarray:
        """The ids of the indexed segments (of files of ``kind``, of videos ``videos`` lets through, when given),
        sorted: what a filtered search may return. A kind's are read once (a published generation never changes);
        a filter's are kept for the last :data:`FILTER_CACHE` filters asked."""
        if videos is not None and videos.empty:
            videos = None
        key = (kind, videos)
        ids = self._segment_ids.get(key)
        if ids is None:
            query = select(Segment.id).join(Video, Segment.video_id == Video.id).order_by(Segment.id)
            if kind is not None:
                query = query.where(Video.kind == kind)
            for condition in _video_conditions(videos):
                query = query.where(condition)
            with Session(self.engine) as session:
                ids = np.fromiter(session.scalars(query), dtype=np.int64)
            ids.setflags(write=False)  # read-only: a search may then cache the rows these ids are at
            if videos is not None:
                filtered = [k for k in self._segment_ids if k[1] is not None]
                for old in filtered[: max(0, len(filtered) - FILTER_CACHE + 1)]:
                    del self._segment_ids[old]  # the oldest first (dicts keep insertion order)
            self._segment_ids[key] = ids
        return ids

    def facets(self) -> Facets:
        """What the indexed files are, for filter controls (read once: a published generation never changes)."""
        if self._facets is None:
            self._facets = _facets(self.engine)
        return self._facets

    # -- the catalog, as records
    def segments(self, ids: Iterable[int]) -> dict[int, SegmentRecord]:
        """The segments of ``ids`` that the catalog holds, by id. Every search reads its candidates' (256 for a page
        of moments) so: one prepared Core statement on a connection, no ORM session (1.7 ms -> 0.9 ms a page)."""
        ids = list(ids)
        if not ids:
            return {}
        with self.engine.connect() as connection:
            rows = connection.execute(_SEGMENTS_BY_ID, {"ids": ids}).all()
        return {row[0]: SegmentRecord(*row) for row in rows}

    def video_record(self, video_id: int) -> VideoRecord | None:
        """One catalogued file (indexed or failed), or None."""
        records = self._video_records(Video.id == int(video_id))
        return records[0] if records else None

    def video_records(self, status: str | None = None) -> list[VideoRecord]:
        """Every catalogued file by path, with its segment count; only those of ``status`` (``VIDEO_INDEXED``,
        ``VIDEO_FAILED``) when given."""
        return self._video_records(None if status is None else Video.status == status)

    def first_segment_ids(self, video_ids: Iterable[int]) -> dict[int, int]:
        """Each of ``video_ids``' first segment id (ordinal 0), by video id; videos without segments are absent."""
        ids = [int(v) for v in video_ids]
        if not ids:
            return {}
        query = select(Segment.video_id, Segment.id).where(Segment.video_id.in_(ids), Segment.ordinal == 0)
        with Session(self.engine) as session:
            return {int(video_id): int(segment_id) for video_id, segment_id in session.execute(query)}

    def video_segments(self, video_id: int) -> list[SegmentRecord]:
        """A video's segments in time order (empty for a failed or unknown video)."""
        with Session(self.engine) as session:
            rows = session.execute(_segment_rows().where(Segment.video_id == int(video_id)).order_by(Segment.ordinal)).all()
        return [SegmentRecord(*row) for row in rows]

    def open_video_file(self, video: VideoRecord | Video) -> VideoFile:
        """Open an indexed video's file once it is checked to be the file that was indexed, inside the library
        (raises :class:`VideoFileError`; see :func:`indexer.index_dir.video_files.open_indexed_file`)."""
        return open_indexed_file(video, self.manifest.library)

    def _video_records(self, where=None) -> list[VideoRecord]:
        return [_video_record(video, count) for video, count in self._counted_videos(where)]

    def _counted_videos(self, where=None) -> list[tuple[Video, int]]:
        """Catalogued files by path (those matching ``where``, a SQL condition, when given) with their segment counts."""
        query = (
            select(Video, func.count(Segment.id))
            .outerjoin(Segment, Segment.video_id == Video.id)
            .group_by(Video.id)
            .order_by(Video.path)
        )
        with Session(self.engine, expire_on_commit=False) as session:
            rows = session.execute(query if where is None else query.where(where)).all()
        return [(video, int(count)) for video, count in rows]

    # -- the catalog's ORM rows, every column (the tests compare whole catalogs with them; the server reads records)
    def video(self, video_id: int) -> Video | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.scalars(select(Video).options(selectinload(Video.segments)).where(Video.id == video_id)).first()

    def videos(self) -> list[Video]:
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(select(Video).order_by(Video.path)))


def open_search(generation: Path, index_type: str, ann: dict, bf16_scan: bool) -> VectorSearch:
    """The search side of a published ``generation`` (its manifest's ``index_type`` and ``extra["ann"]``): the flat
    store or the search index read into memory and tuned, with an IVF-PQ index's float16 re-ranking store
    memory-mapped beside it where it has one (raises IndexNotFoundError when that file is missing)."""
    index = tune_for_search(faiss.read_index(str(generation / (SEARCH if index_type != "flat" else VECTORS))))
    rerank = None
    if index_type == "ivfpq" and ann.get("refine") == "float16":
        path = generation / RERANK
        if not path.is_file():
            raise IndexNotFoundError(
                f"the index in {generation} lacks its re-ranking vectors ({path}): rebuild it with --rebuild"
            )
        rerank = open_rerank_store(path, int(index.ntotal), int(ann.get("k_factor", PQ_REFINE)))
    return VectorSearch(index, bf16_scan, rerank)


def open_index(root: Path, db_url: str | None = None, **kw) -> IndexReader:
    """The index published in ``root``, opened read-only (``kw``: :class:`IndexReader`'s, e.g. ``bf16_scan``)."""
    return IndexReader(root, db_url, **kw)


def index_catalog_revision(root: Path, db_url: str | None = None) -> str | None:
    """The schema revision of the catalog of the index published in ``root`` (``vidseek db current``)."""
    root = Path(root)
    generation, manifest = published(root)
    return catalog_revision(catalog_url(root, generation, manifest, db_url, readonly=True))


def _segment_rows():
    return select(
        Segment.id,
        Segment.video_id,
        Video.path,
        Segment.start,
        Segment.end,
        Video.kind,
        Video.preview_bytes.is_not(None),
        Video.sprite_bytes.is_not(None),
        Video.created,
        Video.duration,
    ).join(Video, Segment.video_id == Video.id)


_SEGMENTS_BY_ID = _segment_rows().where(Segment.id.in_(bindparam("ids", expanding=True)))


def _video_conditions(videos: VideoFilter | None) -> list:
    """SQL conditions on ``videos`` for a :class:`VideoFilter`."""
    if videos is None:
        return []
    conditions = []
    if videos.folder:
        folder = videos.folder.strip("/")
        escaped = folder.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(or_(Video.folder == folder, Video.folder.like(f"{escaped}/%", escape="\\")))
    if videos.after is not None:
        conditions.append(Video.created >= videos.after)
    if videos.before is not None:
        conditions.append(Video.created < videos.before)
    if videos.min_duration is not None:
        conditions.append(Video.duration >= videos.min_duration)
    if videos.max_duration is not None:
        conditions.append(Video.duration <= videos.max_duration)
    if videos.min_height is not None:
        conditions.append(Video.height >= videos.min_height)
    if videos.has_subtitles is not None:
        conditions.append(Video.has_subtitles.is_(True) if videos.has_subtitles else Video.has_subtitles.is_not(True))
    if videos.codecs is not None:
        conditions.append(Video.codec.in_(videos.codecs))
    return conditions


def _facets(engine) -> Facets:
    indexed = Video.status == VIDEO_INDEXED

    def counts(column, limit: int | None = None) -> dict:
        query = select(column, func.count()).where(indexed, column.is_not(None)).group_by(column)
        query = query.order_by(func.count().desc(), column).limit(limit)
        return {value: int(count) for value, count in session.execute(query)}

    with Session(engine) as session:
        videos, with_subtitles, first, last, shortest, longest = session.execute(
            select(
                func.count(),
                func.count().filter(Video.has_subtitles.is_(True)),
                func.min(Video.created),
                func.max(Video.created),
                func.min(Video.duration),
                func.max(Video.duration),
            ).where(indexed)
        ).one()
        return Facets(
            videos=int(videos),
            kinds=counts(Video.kind),
            codecs=counts(Video.codec),
            folders=counts(Video.folder, FACET_FOLDERS),
            heights=counts(Video.height),
            with_subtitles=int(with_subtitles),
            first_created=first,
            last_created=last,
            shortest=shortest,
            longest=longest,
        )


def _video_record(video: Video, segments: int) -> VideoRecord:
    return VideoRecord(
        video_id=video.id,
        path=video.path,
        status=video.status,
        error=video.error,
        duration=video.duration,
        fps=video.fps,
        width=video.width,
        height=video.height,
        indexed_at=video.indexed_at,
        segments=segments,
        fingerprint=video.fingerprint,
        size=video.size,
        device=video.device,
        inode=video.inode,
        kind=video.kind,
        container=video.container,
        codec=video.codec,
        audio_codecs=video.audio_codecs,
        playable=video.playable,
        preview_bytes=video.preview_bytes,
        sprite_bytes=video.sprite_bytes,
        preview_error=video.preview_error,
    )


def _upgrade_command(root: Path, manifest: Manifest, db_url: str | None) -> str:
    if manifest.catalog == "external" and db_url:
        return f"vidseek db upgrade --db-url '{describe_url(db_url)}'"
    return f"vidseek db upgrade --index-dir {root}"
