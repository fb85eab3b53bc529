"""The job store (queue, one build at a time, cancel, retry), a build's progress as a job, the command a job runs,
the watcher's settling, and a build leaving files still being written for later."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from app.services.jobs import JobProgress, build_command
from indexer import CANCELLED, DONE, FAILED, QUEUED, RUNNING, JobStore
from indexer.pipeline import watch
from indexer.pipeline.watch import LibraryWatcher, network_file_system
from tests.indexer.test_words import build
from tests.videos import make_video


def test_requests_while_one_waits_make_one_job_and_one_runs_at_a_time(tmp_path):
    store = JobStore(tmp_path)
    assert not store.exists
    first, new = store.request("rescan requested")
    again, new_again = store.request("another rescan")
    assert new and not new_again and again.id == first.id and first.status == QUEUED and store.exists
    claimed = store.claim()
    assert claimed.id == first.id and claimed.status == RUNNING and claimed.pid == os.getpid()
    # Running but not scanning yet: a request now is answered by its scan too.
    assert store.request("x")[0].id == first.id
    store.progress(first.id, stage="scanning")
    second, new = store.request("while it scans")
    assert new and second.id != first.id
    assert store.claim() is None  # one build at a time: the second waits
    store.finish(first.id, DONE, indexed=2, segments_embedded=5, summary="ok", file_errors=[("a.mp4", "bad")])
    done = store.get(first.id)
    assert (done.status, done.indexed, done.segments_embedded, done.file_errors) == (DONE, 2, 5, [("a.mp4", "bad")])
    assert done.finished and done.finished_at >= done.started_at >= done.requested_at
    assert store.claim().id == second.id
    with pytest.raises(ValueError, match="done, failed or cancelled"):
        store.finish(second.id, RUNNING)
    assert [j.id for j in store.recent()] == [second.id, first.id]


def test_cancel_and_retry(tmp_path):
    store = JobStore(tmp_path)
    queued, _ = store.request("a")
    assert store.cancel(queued.id).status == CANCELLED  # a queued job at once
    running, _ = store.request("b")
    store.claim()
    cancelling = store.cancel(running.id)
    assert cancelling.status == RUNNING and cancelling.cancel_requested  # a running one when its build sees it
    assert store.progress(running.id, stage="indexing", done=1, total=4) is True  # the build is told
    store.finish(running.id, FAILED, error="boom")
    retry = store.retry(running.id)
    assert retry.status == QUEUED and retry.retry_of == running.id and retry.reason == f"retry of job {running.id}"
    assert store.retry(retry.id).id == retry.id  # a queued job is not retried
    assert store.cancel(10_000) is None and store.retry(10_000) is None
    assert store.cancel(queued.id).status == CANCELLED  # a finished job stays as it is


def test_a_builds_progress_is_written_with_an_eta_and_its_cancellation_interrupts_it(tmp_path):
    store = JobStore(tmp_path)
    job, _ = store.request("x")
    store.claim()
    now = [100.0]
    progress = JobProgress(store, job.id, clock=lambda: now[0])
    progress("scanning", 0, 0, {})
    assert store.get(job.id).stage == "scanning"
    progress("indexing", 0, 40, {})
    now[0] += 10
    progress("indexing", 10, 40, {"files": "1/4", "failed": 0})
    state = store.get(job.id)
    assert (state.stage, state.done, state.total, state.files_done, state.files_total) == ("indexing", 10, 40, 1, 4)
    assert state.eta_seconds == pytest.approx(30)  # 10 segments in 10 s, 30 to go
    now[0] += 0.1
    progress("indexing", 11, 40, {})  # within half a second of the last: not written
    assert store.get(job.id).done == 10
    store.cancel(job.id)
    with pytest.raises(KeyboardInterrupt):  # as Ctrl-C: the build aborts its staging copy
        now[0] += 1
        progress("indexing", 12, 40, {})
        time.sleep(1)  # the interrupt lands in the main thread between bytecodes
    assert progress.cancelled.is_set()


def test_a_build_started_with_sigint_ignored_is_still_interrupted(tmp_path):
    # As a shell without job control starts a background command (`vidseek serve &` in a script): SIGINT ignored.
    code = (
        "import signal, time; from indexer import JobStore; from app.services.jobs import JobProgress; "
        f"store = JobStore({str(tmp_path)!r}); job, _ = store.request('x'); store.claim(); store.cancel(job.id)\n"
        "try:\n    progress = JobProgress(store, job.id); progress('indexing', 1, 9, {}); time.sleep(5)\n"
        "except KeyboardInterrupt:\n    print('interrupted', progress.cancelled.is_set())"
    )
    ignored = lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)  # noqa: E731
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, preexec_fn=ignored)
    assert done.stdout.strip() == "interrupted True", done.stderr


def test_a_cancelled_job_is_noticed_by_its_build_even_without_progress(tmp_path):
    store = JobStore(tmp_path)
    job, _ = store.request("x")
    store.claim()
    with pytest.raises(KeyboardInterrupt), JobProgress(store, job.id):
        threading.Timer(0.2, store.cancel, args=(job.id,)).start()
        time.sleep(5)  # a build busy decoding one long file says nothing for a while


def test_a_job_builds_as_the_index_was_built(tmp_path, _tiny_encoder):
    library = tmp_path / "lib"
    make_video(library / "a.mp4", 4)
    with pytest.raises(FileNotFoundError, match="build one first"):
        build_command(tmp_path / "index", 1, 5.0)
    first = build_command(tmp_path / "index", 1, 5.0, library=library)
    assert first[3:6] == ["index", "build", str(library)] and "--frames" not in first  # a first build: the defaults
    build(library, tmp_path / "index", _tiny_encoder, None, frames=2, segment_seconds=7)
    command = build_command(tmp_path / "index", 7, 2.0)
    assert command[5] == str(library.resolve()) and command[command.index("--job") + 1] == "7"
    for option, value in (("--frames", "2"), ("--segments", "fixed"), ("--segment-seconds", "7"), ("--settle-seconds", "2")):
        assert command[command.index(option) + 1] == value


def test_the_watcher_reports_changes_once_they_settle(tmp_path):
    library = tmp_path / "lib"
    (library / "index").mkdir(parents=True)
    changes: list[list] = []
    seen = threading.Event()
    watcher = LibraryWatcher(
        library,
        lambda paths: (changes.append(paths), seen.set()),
        settle_seconds=0.8,
        exclude=[library / "index"],
        tick_seconds=0.1,
    )
    with watcher:
        assert watcher.how == "native (inotify)" and network_file_system(library) is None
        (library / "index" / "poster.jpg").write_bytes(b"x")  # the index dir inside its library is not watched
        (library / ".hidden.mp4").write_bytes(b"x")
        started = time.monotonic()
        with open(library / "growing.mp4", "wb") as f:
            for _ in range(6):  # written for 1.5 s: nothing reported while it grows
                f.write(b"x" * 1000)
                f.flush()
                time.sleep(0.25)
                assert not changes
        assert seen.wait(10)
        assert time.monotonic() - started >= 1.5 + 0.8 - 0.3
        assert changes == [[library.resolve() / "growing.mp4"]]
        seen.clear()
        (library / "growing.mp4").rename(library / "grown.mp4")
        assert seen.wait(10) and changes[1] == sorted([library.resolve() / "growing.mp4", library.resolve() / "grown.mp4"])


def test_the_polling_watcher_sees_changes_too(tmp_path):
    seen = threading.Event()
    watcher = LibraryWatcher(
        tmp_path, lambda paths: seen.set(), settle_seconds=0.2, polling=True, poll_seconds=0.3, tick_seconds=0.1
    )
    with watcher:
        assert watcher.how == "polling every 0.3s (asked for)"
        (tmp_path / "new.mp4").write_bytes(b"x")
        assert seen.wait(10)


def test_folders_past_the_watch_limit_make_the_watcher_poll(tmp_path, monkeypatch):
    """watchdog stops adding watches at the limit below the top folder without an error: the watcher counts them."""
    for i in range(5):
        (tmp_path / f"d{i}").mkdir()
    with LibraryWatcher(tmp_path, lambda paths: None, polling=False) as watcher:
        assert watcher.how.startswith("native")  # 6 folders, 6 watches
    monkeypatch.setattr(watch, "_inotify_watches", lambda: 0)  # as if none was added
    with LibraryWatcher(tmp_path, lambda paths: None, polling=False, poll_seconds=5) as watcher:
        assert watcher.how == "polling every 5s (the inotify watch limit is reached: raise fs.inotify.max_user_watches)"


def test_a_build_leaves_files_still_being_written_for_a_later_one(tmp_path, _tiny_encoder):
    library = tmp_path / "lib"
    make_video(library / "old.mp4", 4)
    make_video(library / "fresh.mp4", 4, color=(10, 200, 10))
    past = time.time() - 60
    os.utime(library / "old.mp4", (past, past))
    report = build(library, tmp_path / "index", _tiny_encoder, None, settle_seconds=30)
    assert report.indexed == 1 and report.unsettled == [str((library / "fresh.mp4").resolve())]
    assert "1 file(s) still being written" in report.summary()
    os.utime(library / "fresh.mp4", (past, past))
    report = build(library, tmp_path / "index", _tiny_encoder, None, settle_seconds=30)
    assert (report.indexed, report.unchanged, report.unsettled) == (1, 1, [])
    # An indexed file being rewritten keeps its old segments until it settles: it is not dropped meanwhile.
    os.utime(library / "old.mp4")
    report = build(library, tmp_path / "index", _tiny_encoder, None, settle_seconds=30)
    assert (report.indexed, report.removed, report.unchanged, len(report.unsettled)) == (0, 0, 1, 1)
