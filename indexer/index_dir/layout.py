"""Where everything lives in an index dir, how files in it are made durable, and the lock a build holds.

Layout::

    INDEX_DIR/
      CURRENT                 name of the published generation (replaced atomically)
      generations/<gen>/      manifest.json · vectors.faiss · [search.faiss] · [rerank.f16.npy] · [catalog.db] (SQLite)
      generations/.staging-*  a build in progress (deleted when a build finds it stale)
      thumbs/<segment_id>.jpg posters, shared by generations (segment ids are never reused)
      previews/<video_id>.mp4 browser-playable previews (H.264 in MP4), shared by generations (nor are video ids)
      sprites/<video_id>.jpg  sprite sheets for hover scrubbing, and <video_id>.vtt their WebVTT thumbnails tracks
      .lock                   held by the one running build
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from indexer.errors import IndexBusyError

CURRENT = "CURRENT"
GENERATIONS = "generations"
THUMBS = "thumbs"
PREVIEWS = "previews"
SPRITES = "sprites"
LOCK = ".lock"
STAGING_PREFIX = ".staging-"
GENERATION_PREFIX = "g-"
MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"  # the exact, canonical store
SEARCH = "search.faiss"  # the approximate index, for large libraries
RERANK = "rerank.f16.npy"  # a large IVF-PQ index's re-ranking vectors, float16, memory-mapped (indexer/index_dir/rerank.py)
CATALOG = "catalog.db"  # the embedded SQLite catalog


def published_name(root: Path) -> str | None:
    """The name of the generation ``CURRENT`` names (None: nothing was ever published). Cheap enough to poll: a
    server compares it with the one it has open to see that a build published."""
    try:
        return (Path(root) / CURRENT).read_text().strip()
    except FileNotFoundError:
        return None


def current_generation(root: Path) -> Path | None:
    """The folder of the generation ``CURRENT`` names, or None when none is published (or it lacks its manifest)."""
    name = published_name(root)
    if name is None:
        return None
    gen = Path(root) / GENERATIONS / name
    return gen if (gen / MANIFEST).is_file() else None


def thumbnail_path(root: Path, segment_id: int) -> Path:
    """A segment's poster (JPEG)."""
    return root / THUMBS / f"{int(segment_id)}.jpg"


def preview_path(root: Path, video_id: int) -> Path:
    """A video's browser-playable preview (H.264 in MP4)."""
    return Path(root) / PREVIEWS / f"{int(video_id)}.mp4"


def sprite_paths(root: Path, video_id: int) -> tuple[Path, Path]:
    """A video's sprite sheet (JPEG) and its WebVTT thumbnails track (whose cues name the sheet relatively)."""
    folder = Path(root) / SPRITES
    return folder / f"{int(video_id)}.jpg", folder / f"{int(video_id)}.vtt"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _write_durably(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one rename, the data on disk first."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class BuildLock:
    """The lock one build holds on an index dir (``.lock``, flock): no second build, and no catalog migration while
    one runs. Taken at once or :class:`IndexBusyError` with ``busy_message``; released by :meth:`release` or as a
    context manager."""

    def __init__(self, root: Path, busy_message: str):
        self._file = open(Path(root) / LOCK, "a+")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            raise IndexBusyError(busy_message) from None

    def release(self) -> None:
        if not self._file.closed:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()

    def __enter__(self) -> "BuildLock":
        return self

    def __exit__(self, *_) -> None:
        self.release()
