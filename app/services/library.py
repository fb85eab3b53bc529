"""What the current index holds, as the pages and the media routes see it: the library listing, one indexed video
with its segments, its file (opened only once checked), and a segment's poster."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from app.errors import NotFoundError
from app.services.current_index import CurrentIndex
from indexer import VIDEO_INDEXED, IndexReader, Manifest, SegmentRecord, VideoFile, VideoFileError, VideoRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Library:
    manifest: Manifest
    generation: str
    indexed: list[VideoRecord]  # their paths shown relative to the library (shown_path)
    failed: list[VideoRecord]


class LibraryBrowser:
    """Browsing the current index by id: never by a path from the client."""

    def __init__(self, index: CurrentIndex):
        self.index = index

    def listing(self) -> Library:
        """Every catalogued file of the current index with its segment count, and the failures with their errors."""
        reader = self.index.require()
        entries = [shown_path(video, reader.manifest.library) for video in reader.video_records()]
        return Library(
            manifest=reader.manifest,
            generation=reader.generation.name,
            indexed=[e for e in entries if e.status == VIDEO_INDEXED],
            failed=[e for e in entries if e.status != VIDEO_INDEXED],
        )

    def indexed_video(self, video_id: int) -> tuple[VideoRecord, list[SegmentRecord]]:
        """An indexed video and its segments in time order (raises NotFoundError)."""
        reader = self.index.require()
        return _indexed(reader, video_id), reader.video_segments(video_id)

    def video_file(self, video_id: int) -> VideoFile:
        """An indexed video's file, opened once checked to be inside the library and still the file that was
        indexed (raises NotFoundError): what is read or sent is the descriptor that was checked."""
        reader = self.index.require()
        video = _indexed(reader, video_id)
        try:
            return reader.open_video_file(video)
        except VideoFileError as exc:
            log.warning("not serving video %d (%s): %s", video_id, video.path, exc.reason)
            raise NotFoundError(str(exc)) from None

    def segment(self, segment_id: int) -> SegmentRecord | None:
        """An indexed segment; None when the index has none of that id, or there is no index."""
        reader = self.index.reader
        return reader.segments([segment_id]).get(segment_id) if reader is not None else None

    def poster(self, segment_id: int) -> Path:
        """A segment's poster, a JPEG (raises NotFoundError)."""
        path = self.index.require().thumbnail_path(segment_id)
        if not path.is_file():
            raise NotFoundError(f"no poster for segment {segment_id}")
        return path


def _indexed(reader: IndexReader, video_id: int) -> VideoRecord:
    video = reader.video_record(video_id)
    if video is None or not video.indexed:
        raise NotFoundError(f"no indexed video {video_id}")
    return video


def shown_path(video: VideoRecord, library_root: str) -> VideoRecord:
    """``video`` with its path as the library page shows it: relative to the library, where it is inside it."""
    try:
        return replace(video, path=str(Path(video.path).relative_to(library_root))) if library_root else video
    except ValueError:
        return video
