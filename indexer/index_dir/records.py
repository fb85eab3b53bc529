"""What the read side hands out about the catalog: plain, frozen records (no ORM object, no database session)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

VIDEO_INDEXED = "indexed"  # a video's status in the catalog
VIDEO_FAILED = "failed"


@dataclass(frozen=True)
class SegmentRecord:
    """One segment of an indexed video: its id (also its vector's FAISS id) and its span in seconds."""

    segment_id: int
    video_id: int
    path: str
    start: float
    end: float

    @property
    def title(self) -> str:
        return Path(self.path).name


@dataclass(frozen=True)
class VideoRecord:
    """One catalogued file, indexed or failed (``status``: ``indexed`` or ``failed``, with ``error``), as the
    catalog recorded it; ``segments`` is how many segments it has. ``fingerprint``, ``size``, ``device`` and
    ``inode`` say which file was indexed: :meth:`IndexReader.open_video_file` serves that file only."""

    video_id: int
    path: str
    status: str
    error: str | None
    duration: float | None
    fps: float | None
    width: int | None
    height: int | None
    indexed_at: datetime | None
    segments: int
    fingerprint: str
    size: int
    device: int | None
    inode: int | None

    @property
    def title(self) -> str:
        """The file name as catalogued (a link's own name, not its target's)."""
        return Path(self.path).name

    @property
    def indexed(self) -> bool:
        return self.status == VIDEO_INDEXED
