"""Walking a video library and fingerprinting its files (size + mtime + a hash of the first bytes)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"})
HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class LibraryFile:
    path: Path  # absolute
    size: int
    mtime_ns: int
    fingerprint: str


def fingerprint_file(path: Path, size: int, mtime_ns: int) -> str:
    with open(path, "rb") as f:
        head = hashlib.blake2b(f.read(HEAD_BYTES), digest_size=8).hexdigest()
    return f"{size}:{mtime_ns}:{head}"


def scan_library(root: Path, extensions: frozenset[str] = VIDEO_EXTENSIONS) -> tuple[list[LibraryFile], list[tuple[Path, str]]]:
    """Every video file under ``root`` (recursively, hidden folders skipped), sorted by path.

    Returns the files and the ones that could not be read at all (path, reason).
    """
    root = root.expanduser().resolve()
    if not root.is_dir():
        raise NotADirectoryError(f"library folder not found: {root}")
    found: list[LibraryFile] = []
    unreadable: list[tuple[Path, str]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or path.suffix.lower() not in extensions:
                continue
            try:
                stat = path.stat()
                if not S_ISREG(stat.st_mode):  # a FIFO or device would block the reader forever
                    unreadable.append((path, "not a regular file"))
                    continue
                found.append(
                    LibraryFile(path, stat.st_size, stat.st_mtime_ns, fingerprint_file(path, stat.st_size, stat.st_mtime_ns))
                )
            except OSError as exc:
                unreadable.append((path, f"cannot read file: {exc.strerror or exc}"))
    return found, unreadable
