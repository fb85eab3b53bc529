"""The jobs of an index dir: each incremental build asked for (by a rescan request, a watched folder or a retry)
is a row, queued, running, then done, failed or cancelled, with its progress (the stage, files and segments done
of how many, an ETA), what it did and the errors per file. The server, ``vidseek index watch`` and the build they
start (``vidseek index build --job ID``) share it across processes.

It is a small SQLite database of its own, ``jobs.sqlite`` beside the published generations: the embedded catalog is
a snapshot copied and published by each build, no place for live state, and an index dir is what every process
of a deployment shares (docker-compose mounts it in the server and the indexer), whatever the catalog is.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Boolean, DateTime, Float, Integer, String, Text, create_engine, event, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

JOBS_DB = "jobs.sqlite"
QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)
MAX_FILE_ERRORS = 200  # errors per file a job keeps (the catalog keeps every failed file's own)


class _Base(DeclarativeBase):
    pass


def _now() -> datetime:
    return datetime.now(UTC)


class Job(_Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="index")
    status: Mapped[str] = mapped_column(String(16), default=QUEUED, index=True)
    reason: Mapped[str] = mapped_column(String(200), default="")
    retry_of: Mapped[int | None] = mapped_column(Integer)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    pid: Mapped[int | None] = mapped_column(Integer)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    stage: Mapped[str] = mapped_column(String(32), default="")
    done: Mapped[int] = mapped_column(Integer, default=0)  # units of the stage (segments while indexing)
    total: Mapped[int] = mapped_column(Integer, default=0)
    files_done: Mapped[int] = mapped_column(Integer, default=0)
    files_total: Mapped[int] = mapped_column(Integer, default=0)
    eta_seconds: Mapped[float | None] = mapped_column(Float)
    indexed: Mapped[int] = mapped_column(Integer, default=0)  # files (re)indexed, and the segments they embedded
    segments_embedded: Mapped[int] = mapped_column(Integer, default=0)
    moved: Mapped[int] = mapped_column(Integer, default=0)
    removed: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)
    file_errors: Mapped[str] = mapped_column(Text, default="[]")  # JSON [[path, reason], ...]


@dataclass(frozen=True)
class JobRecord:
    """One job as the store holds it (plain values, no session)."""

    id: int
    kind: str
    status: str
    reason: str
    retry_of: int | None
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    pid: int | None
    cancel_requested: bool
    stage: str
    done: int
    total: int
    files_done: int
    files_total: int
    eta_seconds: float | None
    indexed: int
    segments_embedded: int
    moved: int
    removed: int
    unchanged: int
    summary: str
    error: str | None
    file_errors: list[tuple[str, str]]

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def _record(job: Job) -> JobRecord:
    values = {name: getattr(job, name) for name in JobRecord.__dataclass_fields__}
    values["file_errors"] = [tuple(pair) for pair in json.loads(job.file_errors or "[]")]
    for name in ("requested_at", "started_at", "finished_at", "updated_at"):  # SQLite hands times back naive (UTC)
        if values[name] is not None and values[name].tzinfo is None:
            values[name] = values[name].replace(tzinfo=UTC)
    return JobRecord(**values)


class JobStore:
    """The jobs of the index dir ``root`` (made on first use). Every method is one short transaction."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.path = self.root / JOBS_DB
        self._engine = None

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    def _session(self) -> Session:
        if self._engine is None:
            self.root.mkdir(parents=True, exist_ok=True)
            engine = create_engine(f"sqlite:///{self.path}", future=True)
            event.listen(engine, "connect", _pragmas)
            event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN IMMEDIATE"))
            _Base.metadata.create_all(engine)
            self._engine = engine
        return Session(self._engine, expire_on_commit=False)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # -- asking
    def request(self, reason: str, retry_of: int | None = None) -> tuple[JobRecord, bool]:
        """A build to run: the job already waiting (queued, or running but not scanning the library yet: requests
        made while one waits make one build), else a new one. Returns it and whether it is new."""
        with self._session() as session, session.begin():
            waiting = (Job.status == QUEUED) | ((Job.status == RUNNING) & (Job.stage == "") & ~Job.cancel_requested)
            queued = session.scalars(select(Job).where(waiting).order_by(Job.id)).first()
            if queued is not None and retry_of is None:
                return _record(queued), False
            job = Job(reason=reason[:200], retry_of=retry_of)
            session.add(job)
            session.flush()
            return _record(job), True

    def cancel(self, job_id: int) -> JobRecord | None:
        """Cancel a job: a queued one at once, a running one when its build sees the request (its build is
        abandoned, the index it started from stays published); a finished one is left as it is. None: no such job."""
        with self._session() as session, session.begin():
            job = session.get(Job, job_id)
            if job is None:
                return None
            if job.status == QUEUED:
                job.status, job.finished_at, job.updated_at = CANCELLED, _now(), _now()
            elif job.status == RUNNING:
                job.cancel_requested, job.updated_at = True, _now()
            return _record(job)

    def retry(self, job_id: int) -> JobRecord | None:
        """A new job doing again what a failed or cancelled one did (None: no such job; the job itself when it
        did not fail or was not cancelled)."""
        with self._session() as session:
            job = session.get(Job, job_id)
        if job is None:
            return None
        if job.status not in (FAILED, CANCELLED):
            return _record(job)
        return self.request(f"retry of job {job_id}", retry_of=job_id)[0]

    # -- running
    def claim(self) -> JobRecord | None:
        """The oldest queued job, now running (by this process until :meth:`set_pid`); None when none waits or
        one is running already (one build at a time)."""
        with self._session() as session, session.begin():
            if session.scalars(select(Job.id).where(Job.status == RUNNING)).first() is not None:
                return None
            job = session.scalars(select(Job).where(Job.status == QUEUED).order_by(Job.id)).first()
            if job is None:
                return None
            job.status, job.started_at, job.updated_at, job.pid = RUNNING, _now(), _now(), os.getpid()
            return _record(job)

    def set_pid(self, job_id: int, pid: int) -> None:
        self._update(job_id, pid=pid)

    def progress(self, job_id: int, **fields) -> bool:
        """Record a running job's progress (``stage``, ``done``, ``total``, ``files_done``, ``files_total``,
        ``eta_seconds``); returns whether its cancellation was asked for."""
        with self._session() as session, session.begin():
            session.execute(update(Job).where(Job.id == job_id, Job.status == RUNNING).values(updated_at=_now(), **fields))
            return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))

    def finish(self, job_id: int, status: str, *, error: str | None = None, file_errors=(), **counts) -> None:
        """A job's end: ``status`` done, failed or cancelled, with ``error`` (why it failed), the files that failed
        and ``counts`` (indexed, segments_embedded, moved, removed, unchanged, summary)."""
        if status not in FINISHED:
            raise ValueError(f"a job finishes done, failed or cancelled, not {status!r}")
        errors = json.dumps([list(pair) for pair in list(file_errors)[:MAX_FILE_ERRORS]])
        self._update(job_id, status=status, error=error, file_errors=errors, finished_at=_now(), eta_seconds=None, **counts)

    def _update(self, job_id: int, **values) -> None:
        with self._session() as session, session.begin():
            session.execute(update(Job).where(Job.id == job_id).values(updated_at=_now(), **values))

    # -- reading
    def get(self, job_id: int) -> JobRecord | None:
        with self._session() as session:
            job = session.get(Job, job_id)
            return None if job is None else _record(job)

    def recent(self, limit: int = 50) -> list[JobRecord]:
        """The last ``limit`` jobs, newest first."""
        with self._session() as session:
            return [_record(j) for j in session.scalars(select(Job).order_by(Job.id.desc()).limit(limit))]

    def running(self) -> list[JobRecord]:
        with self._session() as session:
            return [_record(j) for j in session.scalars(select(Job).where(Job.status == RUNNING))]


def _pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # the "begin" listener issues BEGIN IMMEDIATE: writers queue, never deadlock
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
