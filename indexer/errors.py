"""Every exception the indexer raises, under one root (:class:`IndexerError`): decoding, the catalog, the index dir,
the Ray runner. Each carries the facts as fields and a message, never CLI advice or an HTTP status; ``app/errors.py``
turns them into both. (The modules that raise them re-export them too.)"""

from __future__ import annotations

from pathlib import Path

MAX_ASPECT_RATIO = 10.0  # long side / short side: admits 32:9, 360-degree (2:1) and cube-strip (6:1) video, most panoramas


class IndexerError(Exception):
    """The root of the indexer's exceptions."""


class DecodeError(IndexerError):
    """A file could not be decoded (not a video, corrupt, unsupported codec...)."""


class FrameSizeError(DecodeError):
    """A frame too elongated to scale: its long side would grow without bound as its short side is scaled up."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        super().__init__(
            f"frame size {width}x{height} is too elongated to scale: at most {MAX_ASPECT_RATIO:g}:1 "
            "(long side to short side) is accepted"
        )

    def __reduce__(self):  # raised in decode worker processes: unpickled in the parent from its fields, not its message
        return FrameSizeError, (self.width, self.height)


class NotMediaError(DecodeError):
    """A file in the library that is not a video (not media at all, or media with no video stream): it is skipped
    silently, never reported as failed."""


class PreviewError(IndexerError):
    """A browser-playable preview or a sprite sheet of a video could not be made; the video stays indexed and its
    original is served."""


class DecoderUnavailableError(DecodeError):
    """An optional backend is not installed; the message says how to install it."""


class NotAnImageError(IndexerError, ValueError):
    """Bytes that cannot be read as a picture to search by (not an image, damaged, too many pixels, too elongated)."""


class CatalogError(IndexerError):
    """The catalog's schema is not one this vidseek can use as it is (behind, ahead, or not vidseek's)."""


class RayBuildError(IndexerError):
    """Ray is not installed, the cluster cannot be reached, or the cluster cannot run the pipeline."""


class IndexNotFoundError(IndexerError):
    """No published index in the folder."""


class IndexMismatchError(IndexerError):
    """The index was built with another model or other settings than asked for."""


class IndexBusyError(IndexerError):
    """Another build holds the index dir."""


class IndexWriteError(IndexerError):
    """The new index could not be written (disk full, no permission, catalog locked); the old one still serves."""


class IndexCatalogError(IndexerError):
    """The index's catalog cannot be read: its schema revision is not this vidseek's, or the database fails."""


class ExternalCatalogError(IndexCatalogError):
    """The index keeps its catalog in an external database (PostgreSQL) and no URL for it was given.

    ``dialect``, ``host``, ``port`` and ``database`` say which database, as the manifest recorded it (None each
    for an index built before manifests recorded it); the password is never recorded.
    """

    def __init__(self, root: Path, location: dict):
        self.root = Path(root)
        self.dialect = location.get("dialect")
        self.host = location.get("host")
        self.port = location.get("port")
        self.database = location.get("database")
        super().__init__(
            f"the index in {self.root} keeps its catalog in {self.where}: pass its URL with --db-url or set VIDSEEK_DB_URL"
        )

    @property
    def where(self) -> str:
        """The database in words: "an external postgresql database 'vidseek' on db.example:5432"."""
        words = f"an external {self.dialect} database" if self.dialect else "an external database"
        if self.database:
            words += f" {self.database!r}"
        if self.host:
            words += f" on {self.host}" + (f":{self.port}" if self.port else "")
        return words


class VideoFileError(IndexerError):
    """An indexed video's file cannot be served: it is gone, leads out of the library, or is not the file that
    was indexed (replaced, changed since). ``reason`` says which, for the user."""

    def __init__(self, video_id: int, path: str, reason: str):
        self.video_id, self.path, self.reason = video_id, path, reason
        super().__init__(f"video {video_id} is in the index but {reason}")
