"""The write side of the index dir: one build's staging copy, changed and then published atomically, and the
migration of a published index's catalog.

A build copies the current generation into a staging folder, changes it, and publishes it by writing its files,
fsyncing, renaming the folder and then replacing CURRENT. Readers only ever open a published generation, so a crash
at any point leaves the previous index serving.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from indexer.errors import IndexCatalogError, IndexMismatchError, IndexNotFoundError
from indexer.index_dir.ann import build_search_index, choose_index_type, index_params
from indexer.index_dir.catalog import (
    VIDEO_FAILED,
    VIDEO_INDEXED,
    VIDEO_KIND,
    CatalogError,
    Segment,
    TextEntry,
    Video,
    catalog_location,
    connect,
    int64,
    sqlite_url,
    upgrade_catalog,
)
from indexer.index_dir.layout import (
    CATALOG,
    CURRENT,
    GENERATION_PREFIX,
    GENERATIONS,
    MANIFEST,
    PREVIEWS,
    RERANK,
    SEARCH,
    SPRITES,
    STAGING_PREFIX,
    THUMBS,
    VECTORS,
    BuildLock,
    _fsync_dir,
    _fsync_file,
    _write_durably,
    current_generation,
    preview_path,
    sprite_paths,
    thumbnail_path,
)
from indexer.index_dir.manifest import Manifest, catalog_url, compatibility_problems, published


def new_flat_index(dim: int) -> faiss.Index:
    """The canonical store: exact inner product over unit vectors, ids = segment ids."""
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


class IndexWriter:
    """One build: a staging copy of the current generation that is changed, then published or dropped."""

    def __init__(
        self, root: Path, manifest: Manifest, db_url: str | None = None, rebuild: bool = False, index_type: str = "auto"
    ):
        choose_index_type(0, index_type)  # validates the name before anything is touched
        self.index_type = index_type
        self.root = Path(root)
        self.manifest = manifest
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / GENERATIONS).mkdir(exist_ok=True)
        for folder in (THUMBS, PREVIEWS, SPRITES):
            (self.root / folder).mkdir(exist_ok=True)
        self._lock = BuildLock(self.root, f"another 'vidseek index build' is running on {self.root}")
        self._drop_stale_staging()
        current = current_generation(self.root)
        self._published = current.name if current else None
        previous = None if rebuild else current
        if previous is not None:
            problems = compatibility_problems(Manifest.read(previous / MANIFEST), manifest)
            if problems:
                self.close()
                raise IndexMismatchError(
                    f"the index in {self.root} was built with other settings ({'; '.join(problems)}); "
                    "rebuild it with --rebuild (or use another --index-dir)"
                )
        self.staging = self._new_staging()
        self.external_db = db_url is not None
        if self.external_db:
            manifest.catalog = "external"
            manifest.catalog_location = catalog_location(db_url)
            url = db_url
        else:
            if previous is not None and (previous / CATALOG).is_file():
                shutil.copy2(previous / CATALOG, self.staging / CATALOG)
            url = sqlite_url(self.staging / CATALOG)
        try:
            self.engine = _connect_for_writing(url, self.root)
        except BaseException:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.close()
            raise
        self.session = Session(self.engine, expire_on_commit=False)
        if rebuild and self.external_db:
            self.session.execute(delete(Segment))
            self.session.execute(delete(Video))
        if previous is not None and (previous / VECTORS).is_file():
            self.index = faiss.read_index(str(previous / VECTORS))
        else:
            self.index = new_flat_index(manifest.dim)
        self._removed_segments: list[int] = []
        self._removed_videos: list[int] = []  # their previews and sprite sheets go once the index without them is published

    # -- reading the state being changed
    def known_videos(self) -> dict[str, Video]:
        return {v.path: v for v in self.session.scalars(select(Video))}

    # -- changes
    def remove_video(self, video: Video) -> None:
        self._removed_videos.append(video.id)
        ids = [s.id for s in video.segments]
        if ids:
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))
            self._removed_segments.extend(ids)
        self.session.delete(video)
        self.session.flush()

    def move_video(self, video: Video, path: str, device: int | None, inode: int | None) -> None:
        """``video``'s file is now at ``path`` (moved or renamed, the same content): its segments, vectors,
        posters and previews stay; its words are read again (their stamp holds the path)."""
        video.path = path
        self.record_identity(video, device, inode)
        self.session.flush()

    def record_failure(self, path: str, fingerprint: str, size: int, error: str) -> None:
        self.session.add(Video(path=path, fingerprint=fingerprint, size=size, status=VIDEO_FAILED, error=error))
        self.session.flush()

    def record_identity(self, video: Video, device: int | None, inode: int | None) -> None:
        """Record which file an unchanged video is now (a catalog from before revision 0002 lacks it; a file copied
        with its mtime kept is another inode): nothing is re-embedded."""
        video.device, video.inode = _int64_or_none(device), _int64_or_none(inode)  # an UPDATE only where it changed

    def add_video(
        self,
        path: str,
        fingerprint: str,
        size: int,
        info,
        segments: Sequence,
        vectors: np.ndarray,
        posters: Sequence[bytes],
        *,
        device: int | None = None,
        inode: int | None = None,
        kind: str = VIDEO_KIND,
    ) -> list[int]:
        """Catalogue a decoded video with its segments, add their vectors, write posters; returns the ids.

        ``device`` and ``inode`` (st_dev, st_ino) say which file was read: the server serves that file only.
        ``kind``: a video, or a photo (a one-frame clip)."""
        video = Video(
            kind=kind,
            path=path,
            fingerprint=fingerprint,
            size=size,
            device=_int64_or_none(device),
            inode=_int64_or_none(inode),
            duration=info.duration,
            fps=info.fps,
            width=info.width,
            height=info.height,
            codec=info.codec[:32] or None,  # the decoder's; the preview stage's probe records the container's too
            status=VIDEO_INDEXED,
        )
        video.segments = [Segment(ordinal=i, start=s.start, end=s.end) for i, s in enumerate(segments)]
        self.session.add(video)
        self.session.flush()
        ids = [s.id for s in video.segments]
        if ids:
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
        for segment_id, poster in zip(ids, posters):
            thumbnail_path(self.root, segment_id).write_bytes(poster)
        return ids

    def indexed_videos(self, kind: str | None = None) -> list[Video]:
        """The indexed files (of ``kind`` when given), by path."""
        query = select(Video).where(Video.status == VIDEO_INDEXED).order_by(Video.path)
        return list(self.session.scalars(query if kind is None else query.where(Video.kind == kind)))

    def record_media(self, video: Video, media) -> None:
        """What probing ``video``'s file found (a :class:`~indexer.previews.probe.MediaProbe`-like object with
        ``container``, ``video_codec``, ``audio_codecs`` and ``playable``)."""
        video.container = (media.container or "")[:64]
        video.codec = (media.video_codec or "")[:32]
        video.audio_codecs = ",".join(media.audio_codecs)[:128]
        video.playable = bool(media.playable)
        self.session.flush()

    def record_previews(
        self, video: Video, preview_bytes: int | None, sprite_bytes: int | None, error: str | None = None
    ) -> None:
        """What the preview stage made for ``video``: its preview's and sprite sheet's sizes (None: none), or why not."""
        video.preview_bytes, video.sprite_bytes, video.preview_error = preview_bytes, sprite_bytes, error
        self.session.flush()

    def record_texts(self, video: Video, texts, stamp: str) -> None:
        """What ``video`` says (a :class:`~indexer.texts.VideoWords`-like object: ``rows``, (segment ordinal or None,
        source, start, end, body) each; ``created``, ``folder``, ``has_subtitles``), replacing what it said before,
        and the ``stamp`` of what it was read from."""
        self.session.execute(delete(TextEntry).where(TextEntry.video_id == video.id))
        segment_ids = [s.id for s in video.segments]
        for ordinal, source, start, end, body in texts.rows:
            segment_id = None if ordinal is None else segment_ids[ordinal]
            self.session.add(TextEntry(video_id=video.id, segment_id=segment_id, source=source, start=start, end=end, body=body))
        video.created, video.folder, video.has_subtitles = texts.created, texts.folder, texts.has_subtitles
        video.texts_stamp = stamp
        self.session.flush()

    # -- ending
    def publish(self) -> Path:
        """Write everything aside, fsync, then make it the current generation in one rename; ends the build."""
        generation = self._publish_staging()
        if self.external_db:
            self.engine.dispose()
        self.close()
        return generation

    def checkpoint(self) -> Path:
        """Publish what is staged so far and go on staging on top of it: a killed build resumes from here."""
        generation = self._publish_staging()
        self.staging = self._new_staging()
        if not self.external_db:
            shutil.copy2(generation / CATALOG, self.staging / CATALOG)
            self.engine = _connect_for_writing(sqlite_url(self.staging / CATALOG), self.root)
        self.session = Session(self.engine, expire_on_commit=False)
        return generation

    def _publish_staging(self) -> Path:
        """Write the staged files and fsync them, rename the folder into a generation, then point CURRENT at it."""
        self._write_staging()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        generation = self.root / GENERATIONS / f"{GENERATION_PREFIX}{stamp}-{time.time_ns() % 10**9:09d}"
        os.rename(self.staging, generation)
        _fsync_dir(self.root / GENERATIONS)
        if self.external_db:
            # The shared catalog becomes visible with the new vectors; see docs on the external catalog.
            self.session.commit()
            self.session.close()
        _write_durably(self.root / CURRENT, generation.name.encode())
        _fsync_dir(self.root)
        self._drop_old_generations(keep={generation.name, self._published})
        self._published = generation.name
        for segment_id in self._removed_segments:
            thumbnail_path(self.root, segment_id).unlink(missing_ok=True)
        for video_id in self._removed_videos:
            for path in (preview_path(self.root, video_id), *sprite_paths(self.root, video_id)):
                path.unlink(missing_ok=True)
        self._removed_segments.clear()
        self._removed_videos.clear()
        return generation

    def _write_staging(self) -> None:
        """The vectors, the search index (with its float16 re-ranking store, when large: written from the vectors
        here, so removals and additions reach it), the embedded catalog and the manifest, on disk in the staging
        folder."""
        counts = dict(self.session.execute(select(Video.status, func.count()).group_by(Video.status)).all())
        self.manifest.count = int(self.index.ntotal)
        self.manifest.videos = int(counts.get(VIDEO_INDEXED, 0))
        self.manifest.failed = int(counts.get(VIDEO_FAILED, 0))
        self.manifest.created = datetime.now(UTC).isoformat(timespec="seconds")
        faiss.write_index(self.index, str(self.staging / VECTORS))
        self.manifest.index_type = choose_index_type(self.index.ntotal, self.index_type)
        self.manifest.extra["ann"] = index_params(self.manifest.index_type, int(self.index.ntotal), self.index.d)
        if self.manifest.index_type != "flat":
            search_index = build_search_index(self.index, self.manifest.index_type, folder=self.staging)
            faiss.write_index(search_index, str(self.staging / SEARCH))
        if not self.external_db:
            self.session.commit()
            self.session.close()
            self.engine.dispose()
        _write_durably(self.staging / MANIFEST, self.manifest.to_json().encode())
        for name in (VECTORS, SEARCH, RERANK, CATALOG):
            if (self.staging / name).exists():
                _fsync_file(self.staging / name)
        _fsync_dir(self.staging)

    def abort(self) -> None:
        try:
            self.session.rollback()
            self.session.close()
            self.engine.dispose()
        finally:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.close()

    def close(self) -> None:
        self._lock.release()

    def _new_staging(self) -> Path:
        staging = self.root / GENERATIONS / f"{STAGING_PREFIX}{os.getpid()}-{time.time_ns()}"
        staging.mkdir()
        return staging

    def _drop_stale_staging(self) -> None:
        for stale in (self.root / GENERATIONS).glob(f"{STAGING_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)

    def _drop_old_generations(self, keep: set) -> None:
        """Keep the new generation and the one before it (a server may still be reading it); drop the rest,
        including one a crash left published-but-not-current."""
        for generation in (self.root / GENERATIONS).glob(f"{GENERATION_PREFIX}*"):
            if generation.name not in keep and generation.is_dir():
                shutil.rmtree(generation, ignore_errors=True)


def _int64_or_none(value: int | None) -> int | None:
    return None if value is None else int64(value)


def _connect_for_writing(url: str, root: Path):
    """The catalog opened by a build, migrated to this code's schema first (see indexer/migrations)."""
    try:
        return connect(url)
    except CatalogError as exc:
        raise IndexCatalogError(f"cannot update the catalog of the index in {root}: {exc}") from exc


def upgrade_index_catalog(root: Path, db_url: str | None = None) -> tuple[str | None, str]:
    """Migrate the catalog of the index published in ``root`` to this code's schema; returns (before, after).

    An external catalog is migrated in place (in one transaction). An embedded SQLite catalog is migrated
    on a copy that then replaces it in one rename, so a server reading the generation never sees it half done.
    """
    root = Path(root)
    generation, manifest = published(root)
    if manifest.catalog == "external":
        return upgrade_catalog(catalog_url(root, generation, manifest, db_url, readonly=False))
    catalog = generation / CATALOG
    if not catalog.is_file():
        raise IndexNotFoundError(f"the index in {root} has no catalog ({catalog} is missing): rebuild it with --rebuild")
    # No build may copy the catalog while it is being migrated.
    with BuildLock(root, f"a 'vidseek index build' is running on {root}: try again when it ends"):
        upgrading = generation / f"{CATALOG}.upgrading"
        shutil.copy2(catalog, upgrading)
        try:
            before, after = upgrade_catalog(sqlite_url(upgrading))
            if before != after:
                _fsync_file(upgrading)
                os.replace(upgrading, catalog)
                _fsync_dir(generation)
        finally:
            upgrading.unlink(missing_ok=True)
    return before, after
