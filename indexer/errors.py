"""The index dir's exceptions: raised by the store with the facts as fields; ``app/`` turns them into HTTP statuses
and CLI messages. (They are imported from :mod:`indexer.store` too.)"""

from __future__ import annotations

from pathlib import Path


class IndexError_(Exception):
    """Base class for index-dir failures."""


class IndexNotFoundError(IndexError_):
    """No published index in the folder."""


class IndexMismatchError(IndexError_):
    """The index was built with another model or other settings than asked for."""


class IndexBusyError(IndexError_):
    """Another build holds the index dir."""


class IndexWriteError(IndexError_):
    """The new index could not be written (disk full, no permission, catalog locked); the old one still serves."""


class IndexCatalogError(IndexError_):
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


class VideoFileError(IndexError_):
    """An indexed video's file cannot be served: it is gone, leads out of the library, or is not the file that
    was indexed (replaced, changed since). ``reason`` says which, for the user."""

    def __init__(self, video_id: int, path: str, reason: str):
        self.video_id, self.path, self.reason = video_id, path, reason
        super().__init__(f"video {video_id} is in the index but {reason}")
