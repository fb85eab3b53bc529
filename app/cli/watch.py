"""``vidseek index watch LIBRARY`` and ``vidseek serve --watch``: a watched library (:mod:`indexer.pipeline.watch`)
whose settled changes queue a rescan job, which the job runner (:mod:`app.services.jobs`) runs as an incremental
build in a process of its own. The composition root of watching: only here do the watcher and the jobs meet."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from app.cli.arguments import add_index_dir, settings_for

log = logging.getLogger(__name__)


def add_watch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--settle-seconds",
        type=float,
        metavar="S",
        help="a changed file is indexed once its size and mtime have not changed for S seconds (default: 5)",
    )
    parser.add_argument(
        "--poll",
        action=argparse.BooleanOptionalAction,
        help="look for changes by scanning every --poll-seconds instead of the file system's events (default: poll only "
        "on network file systems, NFS, SMB/CIFS, sshfs..., which raise no events for other machines' changes, or when "
        "inotify's watch limit is reached)",
    )
    parser.add_argument("--poll-seconds", type=float, metavar="S", help="how often --poll scans (default: 10)")


def add_watch_command(index_commands) -> None:
    watch = index_commands.add_parser(
        "watch",
        help="keep an index current: index new, changed, moved and deleted files as they settle",
        description="Watch LIBRARY (default: the library of the index in --index-dir) and, once changed files have "
        "settled, run an incremental build as a job of the index (listed by GET /jobs and the server's Jobs page; "
        "one build at a time across processes). A moved or renamed file keeps its segments. Runs until interrupted.",
    )
    watch.set_defaults(run=cmd_index_watch)
    watch.add_argument("library", type=Path, nargs="?", help="folder of videos (default: the index's own)")
    add_index_dir(watch)
    add_watch_options(watch)


class LibraryJobs:
    """A watcher of ``library`` whose settled changes are rescan requests to ``jobs`` (an :class:`~app.services.jobs.Jobs`)."""

    def __init__(self, library: Path, jobs, settle_seconds: float, polling: bool | None, poll_seconds: float):
        from indexer.pipeline.watch import LibraryWatcher

        self.jobs = jobs
        self.watcher = LibraryWatcher(
            library,
            self._changed,
            settle_seconds=settle_seconds,
            exclude=[jobs.index_dir],
            polling=polling,
            poll_seconds=poll_seconds,
        )

    def _changed(self, paths: list[Path]) -> None:
        job, new = self.jobs.request_index(f"{len(paths)} change(s) in the library")
        log.info("%d change(s) settled: %s job %d", len(paths), "queued" if new else "joined", job.id)

    def start(self) -> None:
        self.watcher.start()
        self.jobs.start()
        print(f"watching {self.watcher.library}: {self.watcher.how}", file=sys.stderr)

    def stop(self) -> None:
        self.watcher.stop()
        self.jobs.stop()


def watch_settings(args: argparse.Namespace) -> tuple[float, bool | None, float]:
    """(settle seconds, polling or None for auto, poll seconds) of the options."""
    settle = 5.0 if args.settle_seconds is None else args.settle_seconds
    poll_seconds = 10.0 if args.poll_seconds is None else args.poll_seconds
    if settle < 0 or poll_seconds <= 0:
        raise ValueError("--settle-seconds must be 0 or more and --poll-seconds more than 0")
    return settle, args.poll, poll_seconds


def library_jobs(settings, library: Path | None, args: argparse.Namespace, jobs=None) -> LibraryJobs:
    """The watched library of the index in ``settings.index_dir`` (``library``: its own when None), its changes
    queued as jobs of ``jobs`` (a :class:`~app.services.jobs.Jobs`; default: the index dir's, made here)."""
    from app.services.jobs import Jobs
    from indexer import read_manifest
    from indexer.scan import library_folder

    settle, polling, poll_seconds = watch_settings(args)
    manifest = read_manifest(settings.index_dir)
    if library is None:
        if manifest is None:
            raise FileNotFoundError(
                f"no index in {settings.index_dir} to know its library: name the folder to watch, or build an index first"
            )
        library = Path(manifest.library)
    library = library_folder(library)
    if jobs is None:
        jobs = Jobs(settings.index_dir, settings, settle_seconds=settle, library=library)
    return LibraryJobs(library, jobs, settle, polling, poll_seconds)


def cmd_index_watch(args: argparse.Namespace) -> int:
    settings = settings_for(args)
    watching = library_jobs(settings, args.library, args)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    watching.start()
    job, _ = watching.jobs.request_index("watch started: catch up with the library")
    print(f"job {job.id}: bringing the index up to date first", file=sys.stderr)
    try:
        stopped.wait()
    finally:
        watching.stop()
    return 0
