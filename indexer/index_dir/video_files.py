"""An indexed video's file, opened for the server only once it is checked to be inside the library and still the
file that was indexed (device and inode, size and mtime, as the catalog recorded them at index time)."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from indexer.errors import VideoFileError
from indexer.index_dir.catalog import Video, int64
from indexer.index_dir.records import VideoRecord
from indexer.scan import fingerprint_size_mtime, is_within


@dataclass
class VideoFile:
    """An indexed video's file, opened and checked (:meth:`IndexReader.open_video_file`); serve ``file``, the
    descriptor that was checked, rather than opening ``path`` again. Closes as a context manager."""

    video: VideoRecord | Video  # as it was asked for
    path: Path  # the real path (symbolic links resolved), inside the library
    file: BinaryIO
    stat: os.stat_result  # of the open file

    @property
    def name(self) -> str:
        """The file name as catalogued (a link's own name, not its target's)."""
        return Path(self.video.path).name

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> "VideoFile":
        return self

    def __exit__(self, *_) -> None:
        self.close()


def open_indexed_file(video: VideoRecord | Video, library: str) -> VideoFile:
    """Open ``video``'s file for reading, once it is checked to be the file that was indexed from ``library``.

    Raises :class:`VideoFileError` when its real path (symbolic links resolved) is outside the library folder;
    when it no longer leads to a regular file; or when the open file's device and inode (a row from before
    catalog revision 0002 has none), size or mtime are not the catalog's (the file was replaced, or changed
    since it was indexed). The checks are made on the open descriptor (fstat), so swapping the path after they
    pass cannot change what the caller reads. ``video``: a :class:`VideoRecord`, or the catalog's ORM row.
    """
    video_id = video.video_id if isinstance(video, VideoRecord) else video.id
    if not library:
        raise VideoFileError(video_id, video.path, "the index does not record its library folder: rebuild it with --rebuild")
    real = Path(os.path.realpath(video.path))
    if not is_within(real, Path(os.path.realpath(library))):
        raise VideoFileError(video_id, video.path, "its path leads out of the library folder: not served")
    try:
        # O_NOFOLLOW: the last part of the path cannot have become a link since realpath; O_NONBLOCK: opening a
        # FIFO put there would block the server.
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise VideoFileError(video_id, video.path, "its file is gone: re-run 'vidseek index build'") from None
    except OSError as exc:
        raise VideoFileError(video_id, video.path, f"its file cannot be opened ({exc.strerror or exc})") from None
    file = os.fdopen(fd, "rb")
    try:
        opened = os.fstat(fd)
        problem = _not_the_indexed_file(video, opened)
        if problem:
            raise VideoFileError(video_id, video.path, problem)
        os.set_blocking(fd, True)
        return VideoFile(video, real, file, opened)
    except BaseException:
        file.close()
        raise


def _not_the_indexed_file(video: VideoRecord | Video, opened: os.stat_result) -> str | None:
    """Why the open file is not the one ``video`` was indexed from (None: it is)."""
    if not stat.S_ISREG(opened.st_mode):
        return "its path no longer leads to a regular file: not served"
    if video.device is not None and video.inode is not None:
        if (int64(opened.st_dev), int64(opened.st_ino)) != (video.device, video.inode):
            return "its path leads to another file than the one indexed (replaced since): re-run 'vidseek index build'"
    recorded = fingerprint_size_mtime(video.fingerprint)
    if recorded is None:
        return "the catalog does not say which file was indexed: re-run 'vidseek index build'"
    if (opened.st_size, opened.st_mtime_ns) != recorded:
        return "its file has changed since it was indexed: re-run 'vidseek index build'"
    return None
