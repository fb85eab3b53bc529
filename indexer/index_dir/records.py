"""What the read side hands out about the catalog: plain, immutable records (no ORM object, no database session)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

VIDEO_INDEXED = "indexed"  # a video's status in the catalog
VIDEO_FAILED = "failed"
VIDEO_KIND = "video"  # what a catalogued file is: a video, or a photo indexed as a one-frame clip
PHOTO_KIND = "photo"
MAX_CODECS = 16  # codecs one filter may name


class SegmentRecord(NamedTuple):
    """One segment of an indexed video: its id (also its vector's FAISS id) and its span in seconds. A named tuple,
    not a frozen dataclass: a query reads a page of moments' candidates (256) and builds one for each, and a frozen
    dataclass takes 4x as long to build (its ``__init__`` goes through ``object.__setattr__``)."""

    segment_id: int
    video_id: int
    path: str
    start: float
    end: float
    kind: str = VIDEO_KIND
    preview: bool = False  # the video has a browser-playable preview (play it instead of the original)
    sprites: bool = False  # the video has a sprite sheet and its WebVTT thumbnails track
    created: datetime | None = None  # when the video was made (its container's creation time, else its mtime)
    duration: float | None = None  # the whole video's length in seconds

    @property
    def title(self) -> str:
        return Path(self.path).name


@dataclass(frozen=True)
class VideoFilter:
    """Which videos a search may find, by their facets (None: any). ``folder``: that folder below the library and
    the folders inside it ("" is the library's top: every file); ``after``/``before``: made at or after / before
    (timezone-aware); durations in seconds; ``min_height`` in pixels; ``has_subtitles``: with or without cues;
    ``codecs``: in one of these video codecs (as probed: ``h264``, ``hevc``, ``vp9``...)."""

    folder: str | None = None
    after: datetime | None = None
    before: datetime | None = None
    min_duration: float | None = None
    max_duration: float | None = None
    min_height: int | None = None
    has_subtitles: bool | None = None
    codecs: tuple[str, ...] | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, name) is None for name in self.__dataclass_fields__)

    @staticmethod
    def codec_names(text: str) -> tuple[str, ...]:
        """The codecs of a comma-separated list (``"h264, hevc"``), lower case, each once; ValueError for a name
        that is not one (letters, digits, ``_`` or ``-``, up to 32), or more than :data:`MAX_CODECS`."""
        names = tuple(dict.fromkeys(n.strip().lower() for n in text.split(",") if n.strip()))
        if not names:
            raise ValueError("name at least one codec, e.g. h264 or h264,hevc")
        if len(names) > MAX_CODECS:
            raise ValueError(f"name at most {MAX_CODECS} codecs")
        bad = [n for n in names if len(n) > 32 or not n.replace("_", "").replace("-", "").isalnum() or not n.isascii()]
        if bad:
            raise ValueError(f"not a codec name: {bad[0]!r} (as probed: h264, hevc, vp9, av1, mpeg4...)")
        return names


@dataclass(frozen=True)
class Facets:
    """What the indexed files are, for filter controls: how many there are, and how many of each kind, video codec,
    folder (the most common :data:`~indexer.index_dir.reader.FACET_FOLDERS`, with the videos directly in each),
    frame height and with subtitles; the span of their dates and durations (None: none known)."""

    videos: int
    kinds: dict[str, int]
    codecs: dict[str, int]
    folders: dict[str, int]
    heights: dict[int, int]
    with_subtitles: int
    first_created: datetime | None
    last_created: datetime | None
    shortest: float | None
    longest: float | None


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
    kind: str = VIDEO_KIND
    container: str | None = None  # as probed (PyAV's format name); None: not probed yet
    codec: str | None = None
    audio_codecs: str | None = None
    playable: bool | None = None  # whether a browser plays the original as it is; None: not probed yet
    preview_bytes: int | None = None  # the preview's size; None: it has none
    sprite_bytes: int | None = None  # the sprite sheet's and its track's size; None: it has none
    preview_error: str | None = None  # why its preview or sprite sheet could not be made

    @property
    def title(self) -> str:
        """The file name as catalogued (a link's own name, not its target's)."""
        return Path(self.path).name

    @property
    def indexed(self) -> bool:
        return self.status == VIDEO_INDEXED
