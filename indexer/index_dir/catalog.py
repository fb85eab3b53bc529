"""The SQL catalog (SQLAlchemy): which videos an index holds, which failed and why, and the segments.

A segment's primary key is also its FAISS id: one source of truth for "which vector is which clip".
SQLite is the embedded default; any SQLAlchemy URL (PostgreSQL) works through the same code.

The schema is versioned with Alembic (revisions in ``indexer/migrations/versions``): opening a catalog to
write migrates it to this code's head; opening one to read only checks that it is there already.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, unquote

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    event,
    inspect,
    make_url,
    text,
)
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from indexer.errors import CatalogError  # noqa: F401 (re-exported)
from indexer.index_dir.records import PHOTO_KIND, VIDEO_FAILED, VIDEO_INDEXED, VIDEO_KIND  # noqa: F401 (re-exported)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"  # indexer/migrations
# The schema metadata.create_all made before there were migrations; such a catalog is stamped here.
INITIAL_REVISION = "0001"
# Serialises migrations of one PostgreSQL database between concurrent builds (an arbitrary constant).
_PG_MIGRATION_LOCK = 0x76696473656B


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Video(Base):
    __tablename__ = "videos"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String(4096), unique=True)
    fingerprint: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))  # SQLite's INTEGER is 64-bit
    duration: Mapped[float | None] = mapped_column(Float)
    fps: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    indexed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Which file was indexed (st_dev, st_ino, as signed 64-bit: see int64), so that the server serves that file
    # only; None in rows written before revision 0002 (a build fills them in without re-embedding anything).
    device: Mapped[int | None] = mapped_column(BigInteger)
    inode: Mapped[int | None] = mapped_column(BigInteger)
    # What the file is (revision 0003): a video or a photo (a one-frame clip), its container and codecs as
    # probed, whether a browser plays it as it is (None: not probed yet), and what the preview stage made for it:
    # a browser-playable preview and a sprite sheet (their sizes in bytes; None: none), or why it could not.
    kind: Mapped[str] = mapped_column(String(8), default=VIDEO_KIND, server_default=VIDEO_KIND)
    container: Mapped[str | None] = mapped_column(String(64))
    codec: Mapped[str | None] = mapped_column(String(32))
    audio_codecs: Mapped[str | None] = mapped_column(String(128))  # comma-separated, "" for none
    playable: Mapped[bool | None] = mapped_column(Boolean)
    preview_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sprite_bytes: Mapped[int | None] = mapped_column(BigInteger)
    preview_error: Mapped[str | None] = mapped_column(Text)
    # What it says (revision 0004): when it was made (its container's creation time, else the file's mtime), its
    # folder below the library ("" at the top), whether it has subtitle cues, and the stamp of what its texts were
    # read from (path, fingerprint, sidecars; None: not read yet). Its words are rows of ``texts``.
    created: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    folder: Mapped[str | None] = mapped_column(String(4096))
    has_subtitles: Mapped[bool | None] = mapped_column(Boolean)
    texts_stamp: Mapped[str | None] = mapped_column(Text)

    segments: Mapped[list["Segment"]] = relationship(
        back_populates="video", cascade="all, delete-orphan", passive_deletes=True, order_by="Segment.ordinal"
    )


class Segment(Base):
    __tablename__ = "segments"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    start: Mapped[float] = mapped_column("start_time", Float)
    end: Mapped[float] = mapped_column("end_time", Float)

    video: Mapped[Video] = relationship(back_populates="segments")


# The full-text index's own objects (revision 0004), dialect-specific and not mapped: FTS5's virtual table and its
# shadow tables in SQLite, the tsvector column and its GIN index in PostgreSQL.
FULL_TEXT_OBJECTS = ("texts_fts", "tsv", "ix_texts_tsv")


def is_full_text_object(name: str | None) -> bool:
    return bool(name) and any(name == n or name.startswith(f"{n}_") for n in FULL_TEXT_OBJECTS)


class TextEntry(Base):
    """Words searched beside the pixels: a subtitle cue of one segment (``source`` "subtitle", with the cue's times),
    or a video's name or title (``segment_id`` None). A full-text index follows the table (revision 0004: FTS5 in
    SQLite, a tsvector column in PostgreSQL; neither is mapped here)."""

    __tablename__ = "texts"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(16))
    start: Mapped[float | None] = mapped_column("start_time", Float)
    end: Mapped[float | None] = mapped_column("end_time", Float)
    body: Mapped[str] = mapped_column(Text)


def connect(url: str, readonly: bool = False) -> Engine:
    """An engine for the catalog at ``url``, its schema migrated to this code's head (unless read-only:
    readers call :func:`check_catalog_revision` and never change the schema)."""
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if not readonly:
        try:
            upgrade_catalog(engine)
        except BaseException:
            engine.dispose()
            raise
    return engine


def int64(value: int) -> int:
    """An unsigned 64-bit number (a device or inode number) as the signed 64-bit integer SQL columns hold."""
    return value - (1 << 64) if value >= 1 << 63 else value


def sqlite_url(path, readonly: bool = False) -> str:
    """The URL of the SQLite file at ``path``, whatever characters the path holds (``%``, ``?``, ``#``, spaces).

    A read-only catalog is opened as an SQLite URI (``file:...?mode=ro``), in which the path is percent-encoded.
    """
    if readonly:
        url = URL.create("sqlite", database=f"file:{quote(str(path))}", query={"mode": "ro", "uri": "true"})
    else:
        url = URL.create("sqlite", database=str(path))
    return url.render_as_string(hide_password=False)


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite ``url`` (read-only URIs included); None for another database or an in-memory one."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        return None
    if database.startswith("file:"):
        database = database.removeprefix("file:").split("?")[0]
        if parsed.query.get("uri") in ("true", "1"):
            database = unquote(database)
    return Path(database)


def catalog_location(url: str) -> dict[str, str | int | None]:
    """Where the catalog at ``url`` lives, fit to write into a manifest: dialect, host, port and database; never
    the user or the password."""
    parsed = make_url(url)
    return {
        "dialect": parsed.get_backend_name(),
        "host": parsed.host,
        "port": parsed.port,
        "database": parsed.database,
    }


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


# -- schema revisions (Alembic, configured in code: the migrations ship inside the package)
def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """Alembic's configuration for the catalog migrations, running on ``connection`` (or connecting to ``url``)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def _scripts() -> ScriptDirectory:
    return _scripts_in(MIGRATIONS_DIR)


@lru_cache(maxsize=4)
def _scripts_in(directory: Path) -> ScriptDirectory:
    """The revisions in ``directory``, read once (keyed by folder: a test may point MIGRATIONS_DIR elsewhere)."""
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The schema revision this code reads and writes."""
    return _scripts().get_current_head()


def _known_revisions() -> set[str]:
    return {script.revision for script in _scripts().walk_revisions()}


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def catalog_revision(url: str) -> str | None:
    """The schema revision the catalog at ``url`` is at (None: empty, or from before there were migrations)."""
    path = sqlite_path(url)
    if path is not None and not path.is_file():  # looking must not create an empty database file
        raise FileNotFoundError(f"no catalog database at {path}")
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return _current_revision(connection)
    finally:
        engine.dispose()


def describe_url(url: str) -> str:
    """``url`` fit to print: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def upgrade_catalog(target: str | Engine) -> tuple[str | None, str]:
    """Migrate the catalog at ``target`` (a URL or an engine) to the head revision; returns (before, after).

    A new database gets the whole schema. A catalog from before there were migrations (the tables but no
    ``alembic_version``) is checked against the initial revision's tables, stamped there, then upgraded.
    A catalog from a newer vidseek (a revision this code does not know) is refused, untouched.
    """
    engine = create_engine(target) if isinstance(target, str) else target
    head = head_revision()
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            before = _current_revision(connection)
            present = set(inspect(connection).get_table_names()) & set(Base.metadata.tables)
            if before == head and present:
                return before, head
            if before is not None and before not in _known_revisions():
                raise CatalogError(_ahead_message(before, head))
            config = alembic_config(connection)
            if before is None and present:
                problems = _schema_problems(connection, _initial_schema())
                if problems:
                    raise CatalogError(
                        "the database has tables named like vidseek's catalog but no schema revision, and they do not "
                        f"match the catalog's first revision ({'; '.join(problems)}): point vidseek at an empty database"
                    )
                command.stamp(config, INITIAL_REVISION)
            elif before is not None and not present:
                # The catalog's tables were dropped but not the version table: nothing to keep, start over.
                command.stamp(config, "base", purge=True)
            command.upgrade(config, "head")
        return before, head
    finally:
        if engine is not target:
            engine.dispose()


def check_catalog_revision(engine: Engine, upgrade_command: str) -> str:
    """Raise :class:`CatalogError` unless the catalog is at this code's head; readers never migrate.

    ``upgrade_command`` is what the message tells the user to run when the catalog is behind.
    """
    with engine.connect() as connection:
        current = _current_revision(connection)
    problem = revision_problem(current, upgrade_command)
    if problem:
        raise CatalogError(problem)
    return current


def revision_problem(current: str | None, upgrade_command: str) -> str | None:
    """Why a catalog at revision ``current`` cannot be read by this code, and what to do; None if it can."""
    head = head_revision()
    if current == head:
        return None
    if current is None:
        return (
            f"the catalog has no schema revision (it predates vidseek's catalog migrations); this vidseek needs "
            f"revision {head}: run '{upgrade_command}'"
        )
    if current not in _known_revisions():
        return _ahead_message(current, head)
    return f"the catalog is at schema revision {current}, this vidseek needs {head}: run '{upgrade_command}'"


def _ahead_message(current: str, head: str) -> str:
    return (
        f"the catalog is at schema revision {current!r}, which this vidseek does not know (its newest is {head}): "
        "it was written by a newer vidseek; run that version (or upgrade this one), or rebuild the index with --rebuild "
        "into an empty catalog"
    )


@lru_cache(maxsize=1)
def _initial_schema() -> dict[str, frozenset[str]]:
    """Table -> column names that the initial revision creates (migrated into a scratch in-memory database)."""
    scratch = create_engine("sqlite://")
    try:
        with scratch.begin() as connection:
            command.upgrade(alembic_config(connection), INITIAL_REVISION)
            inspector = inspect(connection)
            tables = set(inspector.get_table_names()) - {"alembic_version"}
            return {table: frozenset(c["name"] for c in inspector.get_columns(table)) for table in tables}
    finally:
        scratch.dispose()


def _schema_problems(connection: Connection, expected: dict[str, frozenset[str]]) -> list[str]:
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    problems = []
    for table, columns in sorted(expected.items()):
        if table not in tables:
            problems.append(f"no table {table}")
            continue
        found = {c["name"] for c in inspector.get_columns(table)}
        if missing := sorted(columns - found):
            problems.append(f"{table} lacks {', '.join(missing)}")
        if extra := sorted(found - columns):
            problems.append(f"{table} has unknown columns {', '.join(extra)}")
    return problems
