"""Walking a video library and fingerprinting its files (size + mtime + a hash of the first bytes).

Symbolic links: a link to a file is followed when its target is inside the library (it is indexed under the
link's own path); a link that leads out of the library is not indexed and is reported as failed, so that
nothing outside the library folder is ever read or served. Links to folders are not descended into (as
``os.walk`` does by default: no loops, no way out of the library).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"})
HEAD_BYTES = 64 * 1024
LINK_OUT_OF_LIBRARY = "a symbolic link to a file outside the library: not indexed (links are followed only within the library)"


@dataclass(frozen=True)
class LibraryFile:
    path: Path  # absolute
    size: int
    mtime_ns: int
    fingerprint: str
    device: int | None = None  # st_dev and st_ino of the file read (a link's target)
    inode: int | None = None


def fingerprint_file(path: Path, size: int, mtime_ns: int) -> str:
    with open(path, "rb") as f:
        head = hashlib.blake2b(f.read(HEAD_BYTES), digest_size=8).hexdigest()
    return f"{size}:{mtime_ns}:{head}"


def fingerprint_size_mtime(fingerprint: str) -> tuple[int, int] | None:
    """The (size, mtime_ns) a fingerprint was made from; None for one that is not a file's (a failed row's "")."""
    size, _, rest = fingerprint.partition(":")
    mtime_ns = rest.partition(":")[0]
    if not (size.isdigit() and mtime_ns.lstrip("-").isdigit()):
        return None
    return int(size), int(mtime_ns)


def is_within(path: Path, root: Path) -> bool:
    """Whether ``path`` is ``root`` or under it (both real paths: symbolic links already resolved)."""
    return path == root or path.is_relative_to(root)


def library_folder(root: Path) -> Path:
    """``root`` as the real path of an existing folder (raises NotADirectoryError saying what is wrong)."""
    given = root.expanduser()
    resolved = given.resolve()
    if not resolved.is_dir():
        if resolved.exists():
            raise NotADirectoryError(f"the library must be a folder of videos, but {given} is a file: pass the folder holding it")
        raise NotADirectoryError(f"library folder not found: {given}")
    return resolved


def scan_library(root: Path, extensions: frozenset[str] = VIDEO_EXTENSIONS) -> tuple[list[LibraryFile], list[tuple[Path, str]]]:
    """Every video file under ``root`` (recursively, hidden folders skipped), sorted by path.

    Returns the files and the ones that could not be read at all or are not indexed (path, reason), such as a
    symbolic link leading out of the library (see the module docstring).
    """
    root = library_folder(root)
    found: list[LibraryFile] = []
    unreadable: list[tuple[Path, str]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or path.suffix.lower() not in extensions:
                continue
            try:
                if path.is_symlink() and not is_within(Path(os.path.realpath(path)), root):
                    unreadable.append((path, LINK_OUT_OF_LIBRARY))
                    continue
                stat = path.stat()
                if not S_ISREG(stat.st_mode):  # a FIFO or device would block the reader forever
                    unreadable.append((path, "not a regular file"))
                    continue
                fingerprint = fingerprint_file(path, stat.st_size, stat.st_mtime_ns)
                found.append(LibraryFile(path, stat.st_size, stat.st_mtime_ns, fingerprint, stat.st_dev, stat.st_ino))
            except OSError as exc:
                unreadable.append((path, f"cannot read file: {exc.strerror or exc}"))
    return found, unreadable
