"""Indexing jobs: a rescan asked for (``POST /jobs/index``, a watched folder that changed, a retry) is queued in the
index dir's job store (:mod:`indexer.index_dir.jobs`) and run, one at a time, as ``vidseek index build --job ID``
in a process of its own: the server never builds (its memory and its event loop stay the searches'), the build
takes the index dir's lock like any other, and the published index keeps serving until the build publishes the
next one. That process reports its progress to the store (:class:`JobProgress`) and stops when its job is
cancelled, which the store says (its build is abandoned; the index it started from stays published).
"""

from __future__ import annotations

import _thread
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from indexer import CANCELLED, DONE, FAILED, JobRecord, JobStore, read_manifest

log = logging.getLogger(__name__)

STALE_SECONDS = 120.0  # a running job whose process is gone and that said nothing for this long has failed
CANCEL_GRACE_SECONDS = 30.0  # a cancelled build that has not stopped by then is terminated
PROGRESS_EVERY_SECONDS = 0.5  # how often a build writes its progress to the store


class JobProgress:
    """In the build's process: its progress told to the store (an ``observer`` of :class:`BuildOptions`, at
    most every :data:`PROGRESS_EVERY_SECONDS`), with an ETA from the stage's rate, and its cancellation
    watched: when the store says the job was cancelled, the build is interrupted as by Ctrl-C (it abandons its
    staging copy; the published index is untouched)."""

    def __init__(self, store: JobStore, job_id: int, clock: Callable[[], float] = time.monotonic):
        self.store, self.job_id, self.clock = store, job_id, clock
        self.cancelled = threading.Event()
        self._last = 0.0
        self._stage: tuple[str, float, int] | None = None  # (stage, since, done then): the rate's start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch_cancel, name="vidseek-job-cancel", daemon=True)
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            # A process started in the background by a shell without job control (`vidseek serve &` in a script)
            # inherits SIGINT ignored, and then interrupt_main() does nothing: the cancel would wait for its grace.
            signal.signal(signal.SIGINT, signal.default_int_handler)

    def __enter__(self) -> JobProgress:
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def __call__(self, stage: str, done: int, total: int, fields: dict) -> None:
        now = self.clock()
        if self._stage is None or self._stage[0] != stage:
            self._stage = (stage, now, done)
            self._last = 0.0  # a new stage is shown at once
        if now - self._last < PROGRESS_EVERY_SECONDS and done < total:
            return
        self._last = now
        values = {"stage": stage, "done": done, "total": total, "eta_seconds": self._eta(now, done, total)}
        files = str(fields.get("files", ""))
        if "/" in files:
            files_done, files_total = files.split("/", 1)
            if files_done.isdigit() and files_total.isdigit():
                values |= {"files_done": int(files_done), "files_total": int(files_total)}
        if self.store.progress(self.job_id, **values):
            self._cancel()

    def _eta(self, now: float, done: int, total: int) -> float | None:
        _, since, done_then = self._stage
        if done <= done_then or now <= since or total <= done:
            return None
        return (total - done) / ((done - done_then) / (now - since))

    def _watch_cancel(self) -> None:
        while not self._stop.wait(1.0):
            try:
                job = self.store.get(self.job_id)
            except Exception:  # a busy store is asked again next second
                continue
            if job is not None and job.cancel_requested:
                self._cancel()
                return

    def _cancel(self) -> None:
        if not self.cancelled.is_set():
            self.cancelled.set()
            _thread.interrupt_main()  # KeyboardInterrupt in the build: it aborts its staging copy


def build_command(index_dir: Path, job_id: int, settle_seconds: float, settings=None, library: Path | None = None) -> list[str]:
    """The ``vidseek index build`` that runs job ``job_id`` on the index in ``index_dir``: of ``library`` (default:
    the index's own) with the options the index was built with (frames, segments, decoder), as its manifest
    records them; the build itself keeps to the rest its manifest records (index type, extensions, photos,
    previews, engine, precision, transcriber: app/cli/index.py). Without an index yet, a first build of
    ``library`` with the defaults."""
    manifest = read_manifest(index_dir)
    if manifest is None and library is None:
        raise FileNotFoundError(f"no index in {index_dir} to update: build one first (vidseek index build LIBRARY)")
    folder = str(library) if library is not None else manifest.library
    command = [sys.executable, "-m", "app.cli", "index", "build", folder, "--index-dir", str(index_dir)]
    command += ["--job", str(job_id), "--settle-seconds", f"{settle_seconds:g}", "--no-progress"]
    if manifest is not None:
        command += ["--frames", str(manifest.frames), "--decoder", manifest.decoder, "--segments", manifest.segmenter]
        if manifest.segmenter == "fixed":
            command += ["--segment-seconds", f"{manifest.segment_seconds:g}"]
        else:
            command += ["--max-segment-seconds", f"{manifest.max_segment_seconds:g}"]
            command += ["--min-segment-seconds", f"{manifest.min_segment_seconds:g}"]
    for name in ("db_url", "model", "pretrained", "device"):
        value = getattr(settings, name, None)
        if value and not (name == "device" and value == "auto"):
            command += [f"--{name.replace('_', '-')}", str(value)]
    return command


class JobRunner:
    """Runs the store's queued jobs one at a time, each as a process of its own (:func:`build_command`); a
    thread, woken by :meth:`wake` or every ``poll_seconds`` (jobs queued by other processes)."""

    def __init__(
        self,
        store: JobStore,
        index_dir: Path,
        settle_seconds: float = 5.0,
        settings=None,
        poll_seconds: float = 2.0,
        library: Path | None = None,
    ):
        self.store, self.index_dir, self.settle_seconds, self.settings = store, Path(index_dir), settle_seconds, settings
        self.poll_seconds, self.library = poll_seconds, library
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.current: subprocess.Popen | None = None

    def start(self) -> JobRunner:
        self._thread = threading.Thread(target=self._loop, name="vidseek-jobs", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        child = self.current
        if child is not None and child.poll() is None:
            child.terminate()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            try:
                if self.store.exists:
                    self._reap()
                    while not self._stop.is_set() and (job := self.store.claim()) is not None:
                        self._run(job)
            except Exception:
                log.exception("running indexing jobs failed; trying again in %ss", self.poll_seconds)

    def _run(self, job: JobRecord) -> None:
        try:
            command = build_command(self.index_dir, job.id, self.settle_seconds, self.settings, self.library)
        except Exception as exc:
            self.store.finish(job.id, FAILED, error=str(exc))
            return
        log.info("job %d: %s", job.id, " ".join(command[2:]))
        tail: deque[str] = deque(maxlen=20)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env) as child:
            self.current = child
            self.store.set_pid(job.id, child.pid)
            reader = threading.Thread(target=_collect, args=(child.stderr, tail), daemon=True)
            reader.start()
            cancelled_at = None
            while child.poll() is None:
                time.sleep(0.5)
                if self._stop.is_set():
                    child.terminate()
                state = self.store.get(job.id)
                if state is not None and state.cancel_requested and cancelled_at is None:
                    cancelled_at = time.monotonic()
                if cancelled_at is not None and time.monotonic() - cancelled_at > CANCEL_GRACE_SECONDS:
                    child.kill()
            reader.join(timeout=5)
            self.current = None
        final = self.store.get(job.id)
        if final is not None and not final.finished:  # the build died before it could say how it ended
            why = "cancelled" if final.cancel_requested else f"the build exited with status {child.returncode}"
            status = CANCELLED if final.cancel_requested else FAILED
            self.store.finish(job.id, status, error=f"{why}: {' | '.join(tail)[-2000:]}" if tail else why)

    def _reap(self) -> None:
        """Fail the running jobs whose process is gone (a killed ``vidseek index watch``, a reboot)."""
        now = time.time()
        for job in self.store.running():
            if job.pid == os.getpid() or (self.current is not None and job.pid == self.current.pid):
                continue
            if not _alive(job.pid) and now - job.updated_at.timestamp() > STALE_SECONDS:
                self.store.finish(job.id, FAILED, error=f"its build (process {job.pid}) stopped without saying how it ended")


def _collect(stream, tail: deque) -> None:
    for line in stream:
        if line.strip():
            tail.append(line.rstrip())


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Jobs:
    """The indexing jobs of one index dir, as the routes see them: ask for a rescan, cancel, retry, list; the
    runner runs them while the app is up (:meth:`start`, :meth:`stop`)."""

    def __init__(self, index_dir: Path, settings=None, settle_seconds: float = 5.0, library: Path | None = None):
        self.index_dir = Path(index_dir)
        self.store = JobStore(self.index_dir)
        self.runner = JobRunner(self.store, self.index_dir, settle_seconds, settings, library=library)
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self.runner.start()

    def stop(self) -> None:
        if self._started:
            self.runner.stop()
        self.store.close()

    def can_update(self) -> bool:
        """Whether a rescan can run: there is an index to update (its library and options), or a library to build."""
        return self.runner.library is not None or read_manifest(self.index_dir) is not None

    def request_index(self, reason: str) -> tuple[JobRecord, bool]:
        """Queue a rescan (or join the one queued: requests while one waits make one build); (job, new)."""
        job, new = self.store.request(reason)
        self.runner.wake()
        return job, new

    def cancel(self, job_id: int) -> JobRecord | None:
        return self.store.cancel(job_id) if self.store.exists else None

    def retry(self, job_id: int) -> JobRecord | None:
        job = self.store.retry(job_id) if self.store.exists else None
        self.runner.wake()
        return job

    def get(self, job_id: int) -> JobRecord | None:
        return self.store.get(job_id) if self.store.exists else None

    def recent(self, limit: int = 50) -> list[JobRecord]:
        return self.store.recent(limit) if self.store.exists else []


__all__ = ["CANCELLED", "DONE", "FAILED", "JobProgress", "JobRecord", "JobRunner", "JobStore", "Jobs", "build_command"]
