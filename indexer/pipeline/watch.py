"""Watching a library for changes: a file written, renamed, moved or deleted anywhere below it is noted, and once
every noted file has settled (its size and mtime have not changed for ``settle_seconds``, or it is gone) the watcher
says so, once for the lot: the caller then runs one incremental build, which rescans the library (a build never
trusts events alone: it compares the whole tree with the catalog, so a missed event costs latency, not data).

Events come from watchdog's native observer (inotify on Linux) where it works, and from its polling observer
(a snapshot of the tree every ``poll_seconds``) where it cannot: a network file system (NFS, SMB/CIFS, sshfs...),
whose changes made by other machines raise no local events, or when the native observer cannot start (inotify's
watch limit, ``fs.inotify.max_user_watches``, is reached). :attr:`LibraryWatcher.how` and the log say which.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger(__name__)

NETWORK_FILE_SYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "sshfs", "9p", "afs", "ceph", "glusterfs", "fuse.glusterfs"}
)
MAX_WAIT_SECONDS = 60.0  # a settled change waits at most this long for others still being written
OnChange = Callable[[list[Path]], None]
"""Called (on the watcher's own thread) with the paths that changed, once all of them have settled."""


class LibraryWatcher:
    """Watch ``library`` (its folders in ``exclude``, such as an index dir inside it, and hidden ones left out) and
    call ``on_change`` with the changed paths once each has settled. ``polling``: True or False to choose the
    observer, None to choose by the file system (see the module docstring). Use as a context manager, or
    :meth:`start` and :meth:`stop`."""

    def __init__(
        self,
        library: Path,
        on_change: OnChange,
        *,
        settle_seconds: float = 5.0,
        exclude: Iterable[Path] = (),
        polling: bool | None = None,
        poll_seconds: float = 10.0,
        tick_seconds: float = 0.5,
    ):
        self.library = Path(library).expanduser().resolve()
        self.on_change = on_change
        self.settle_seconds = settle_seconds
        self.exclude = tuple(Path(p).expanduser().resolve() for p in exclude)
        self.polling = polling
        self.poll_seconds = poll_seconds
        self.tick_seconds = tick_seconds
        self.how = ""  # "native (inotify)" or "polling every 10s (why)", once started
        self._pending: dict[Path, tuple[tuple[int, int] | None, float]] = {}  # path -> (size, mtime_ns), since
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._observer = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> LibraryWatcher:
        self._observer, self.how = self._start_observer()
        log.info("watching %s: %s", self.library, self.how)
        self._thread = threading.Thread(target=self._settle_loop, name="vidseek-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=10)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> LibraryWatcher:
        return self.start()

    def __exit__(self, *_) -> None:
        self.stop()

    @property
    def pending(self) -> int:
        """How many changed paths are waiting to settle."""
        with self._lock:
            return len(self._pending)

    # -- events
    def note(self, path: str | os.PathLike) -> None:
        """A change at ``path`` (an observer's event; also callable directly)."""
        path = Path(os.fsdecode(path))
        if not self._watched(path):
            return
        with self._lock:
            self._pending[path] = (_stat(path), time.monotonic())

    def _watched(self, path: Path) -> bool:
        try:
            relative = path.relative_to(self.library)
        except ValueError:
            return False
        if any(part.startswith(".") for part in relative.parts):
            return False
        return not any(path == folder or path.is_relative_to(folder) for folder in self.exclude)

    def _settle_loop(self) -> None:
        while not self._stopped.wait(self.tick_seconds):
            ready = self._settled()
            if ready:
                try:
                    self.on_change(ready)
                except Exception:  # the watcher outlives one failed hand-over; the next change tries again
                    log.exception("handling %d changed file(s) failed", len(ready))

    def _settled(self) -> list[Path]:
        """The pending paths that have settled, once none has changed for ``settle_seconds`` (one build for a
        burst of changes), or once the first of them has waited :data:`MAX_WAIT_SECONDS` for files still being
        written (the build leaves those for later: ``settle_seconds`` of :class:`BuildOptions`)."""
        now = time.monotonic()
        with self._lock:
            paths = list(self._pending.items())
        ready, busy = [], False
        for path, (seen, since) in paths:
            current = _stat(path)
            if current != seen:
                with self._lock:
                    self._pending[path] = (current, now)
                busy = True
            elif now - since >= self.settle_seconds:
                ready.append((path, since))
            else:
                busy = True
        if not ready or (busy and now - min(since for _, since in ready) < MAX_WAIT_SECONDS):
            return []
        with self._lock:
            for path, since in ready:
                if self._pending.get(path, (None, None))[1] == since:
                    del self._pending[path]
        return sorted(path for path, _ in ready)

    # -- observers
    def _start_observer(self):
        network = network_file_system(self.library)
        if self.polling:
            reason = "asked for"
        elif self.polling is None and network is not None:
            reason = f"a {network} file system raises no events for other machines' changes"
        else:
            try:
                return self._observe(native=True), f"native ({_native_name()})"
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EMFILE):
                    raise
                reason = (
                    "the inotify watch limit is reached: raise fs.inotify.max_user_watches"
                    if exc.errno == errno.ENOSPC
                    else "too many inotify instances: raise fs.inotify.max_user_instances"
                )
                log.warning("cannot watch %s natively (%s): polling instead", self.library, reason)
        return self._observe(native=False), f"polling every {self.poll_seconds:g}s ({reason})"

    def _observe(self, native: bool):
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserverVFS

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:  # one of _change_events(): the observer drops the others
                watcher.note(event.src_path)
                if getattr(event, "dest_path", ""):
                    watcher.note(event.dest_path)

        if native:
            observer = Observer()
        else:  # its snapshots keep what they compare of each file, not a whole stat result: ~half the memory
            observer = PollingObserverVFS(stat=_lean_stat, listdir=os.scandir, polling_interval=self.poll_seconds)
        # Only what can change the library: reads and listings (IN_OPEN, IN_CLOSE_NOWRITE, a build's own scan) would
        # fill a large tree's inotify queue, whose overflow makes watchdog add every watch again, and so on forever.
        observer.schedule(Handler(), str(self.library), recursive=True, event_filter=_change_events())
        held = _inotify_watches() if native else None
        try:
            observer.start()  # the native observer adds its watches here: OSError ENOSPC at the watch limit
            if held is not None:
                _require_every_folder_watched(self.library, _inotify_watches() - held)
        except OSError:
            observer.stop()
            raise
        return observer


class _Stat(NamedTuple):
    """What watchdog's polling snapshots compare of a file (``DirectorySnapshot``): a stat result keeps ~20 fields."""

    st_ino: int
    st_dev: int
    st_mode: int
    st_mtime: float
    st_size: int


def _lean_stat(path: str) -> _Stat:
    st = os.stat(path)
    return _Stat(st.st_ino, st.st_dev, st.st_mode, st.st_mtime, st.st_size)


def _change_events() -> list:
    """The events that may change the library. Not reads and listings (opened, closed without writing), nor a
    folder's own "modified", which says only that its entries changed: their events say which."""
    from watchdog.events import (
        DirCreatedEvent,
        DirDeletedEvent,
        DirMovedEvent,
        FileClosedEvent,
        FileCreatedEvent,
        FileDeletedEvent,
        FileModifiedEvent,
        FileMovedEvent,
    )

    files = [FileCreatedEvent, FileModifiedEvent, FileMovedEvent, FileDeletedEvent, FileClosedEvent]
    return [*files, DirCreatedEvent, DirMovedEvent, DirDeletedEvent]


def _inotify_watches() -> int | None:
    """The inotify watches this process holds (Linux: /proc/self/fdinfo), None where that cannot be read."""
    total = 0
    try:
        descriptors = os.listdir("/proc/self/fd")
    except OSError:
        return None
    for fd in descriptors:
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify":
                with open(f"/proc/self/fdinfo/{fd}") as info:
                    total += sum(1 for line in info if line.startswith("inotify wd:"))
        except OSError:
            continue
    return total


def _require_every_folder_watched(library: Path, added: int) -> None:
    """ENOSPC where the native observer watches fewer folders than ``library`` has: watchdog stops adding watches
    at the limit below the top folder without a word, and the folders past it would never say they changed."""
    folders = sum(1 for _ in os.walk(library))
    if added < folders:
        raise OSError(errno.ENOSPC, f"{added} of {folders} folders watched")


def network_file_system(path: Path) -> str | None:
    """The type of the network file system ``path`` is on (``nfs4``, ``cifs``...), or None (local, or unknown)."""
    try:
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    best, kind = "", None
    for line in mounts:
        fields = line.split()
        if "-" not in fields:
            continue
        mount_point = fields[4].replace("\\040", " ")
        fs_type = fields[fields.index("-") + 1]
        if (str(path) == mount_point or str(path).startswith(mount_point.rstrip("/") + "/")) and len(mount_point) >= len(best):
            best, kind = mount_point, fs_type
    return kind if kind in NETWORK_FILE_SYSTEMS else None


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _native_name() -> str:
    from watchdog.observers import Observer

    return Observer.__name__.removesuffix("Observer").lower() or "native"
