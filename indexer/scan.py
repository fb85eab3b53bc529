"""Walking a video library and fingerprinting its files (size + mtime + a hash of the first bytes).

Which files are candidates goes by name (:data:`VIDEO_EXTENSIONS`, :data:`PHOTO_EXTENSIONS`, or every file:
:data:`ALL_FILES`); what a candidate is goes by its content, probed by the decode workers: one that holds text, or
media without a video stream, is skipped as not a video (:class:`~indexer.errors.NotMediaError`).

Symbolic links: a link to a file is followed when its target is inside the library (it is indexed under the
link's own path); a link that leads out of the library is not indexed and is reported as failed, so that
nothing outside the library folder is ever read or served. Links to folders are not descended into (as
``os.walk`` does by default: no loops, no way out of the library).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

from indexer.decoders.photo import HEIF_EXTENSIONS
from indexer.index_dir.records import PHOTO_KIND, VIDEO_KIND

# The containers FFmpeg reads video from (audio-only ones and .gif aside): MPEG-4/QuickTime, Matroska/WebM, AVI,
# Windows Media, Flash, 3GPP, MPEG transport streams (AVCHD .mts/.m2ts, HDV .m2t, .ts), MPEG program streams and
# elementary streams (.mpg, DVD .vob, camcorders' .mod/.tod), MXF, Ogg, DV, DivX/Xvid AVIs, RealMedia, NUT, YUV4MPEG2
# and Motion JPEG.
VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .qt .mkv .webm .avi .wmv .asf .flv .f4v .3gp .3g2 .mts .m2ts .m2t .ts .mpg .mpeg .mpe .m1v .m2v "
    ".vob .mod .tod .mxf .ogv .ogm .dv .divx .xvid .rm .rmvb .nut .y4m .mjpeg .mjpg".split()
)
# Pictures indexed as one-frame clips; HEIC/HEIF when pillow_heif is installed (indexer.decoders.photo).
PHOTO_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp"}) | HEIF_EXTENSIONS
ALL_FILES = frozenset({"*"})  # every (non-hidden, regular) file is a candidate: probing decides what it is
EVERY_FILE_WORDS = ("*", "all")  # how --extensions asks for ALL_FILES
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
    kind: str = VIDEO_KIND  # or PHOTO_KIND, by its name: decoded as a picture (indexer.decoders.photo)
    named_as_media: bool = True  # False: a candidate only because every file is (ALL_FILES), its name no video's


def parse_extensions(text: str) -> frozenset[str]:
    """The file endings a comma-separated list names (``--extensions``): "mkv, .AVI" gives {".mkv", ".avi"}; "*" or
    "all" gives :data:`ALL_FILES`. Raises ValueError, saying what is wrong, for an empty list or a name that is no
    file ending."""
    items = [item.strip().lower() for item in text.split(",") if item.strip()]
    if not items:
        raise ValueError("no file extensions given: list endings such as mkv,avi,mts (or * for every file)")
    if any(item in EVERY_FILE_WORDS for item in items):
        return ALL_FILES
    endings = normalised_extensions(items)
    wrong = sorted(e for e in endings if not re.fullmatch(r"\.[a-z0-9_+-]+", e))
    if wrong:
        raise ValueError(f"not a file extension: {', '.join(wrong)} (give endings such as mkv or .avi, comma-separated)")
    return endings


def normalised_extensions(extensions: Iterable[str]) -> frozenset[str]:
    """Endings in lower case with their leading dot (".MKV", "mkv": ".mkv"); ``*`` (:data:`ALL_FILES`) stays."""
    return frozenset(e if e == "*" else "." + e.lower().lstrip(".") for e in extensions)


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


def scan_library(
    root: Path, extensions: frozenset[str] | None = None, photos: bool = True, exclude: Iterable[Path] = ()
) -> tuple[list[LibraryFile], list[tuple[Path, str]]]:
    """Every candidate file under ``root`` (recursively, hidden files and folders skipped), sorted by path.

    ``extensions``: the endings scanned (any case, with or without their dot); None: :data:`VIDEO_EXTENSIONS` and
    :data:`PHOTO_EXTENSIONS`; :data:`ALL_FILES`: every file. A file with a photo's ending is a photo (``kind``);
    with ``photos`` False, photos are not scanned at all. The folders in ``exclude`` are not walked: an index dir
    inside its library, whose posters are JPEGs (and previews videos), is not indexed as part of it.

    Returns the files and the ones that could not be read at all or are not indexed (path, reason), such as a
    symbolic link leading out of the library (see the module docstring).
    """
    root = library_folder(root)
    every = extensions is not None and "*" in extensions
    wanted = VIDEO_EXTENSIONS | PHOTO_EXTENSIONS if extensions is None else normalised_extensions(extensions)
    excluded = {Path(folder).expanduser().resolve() for folder in exclude}
    found: list[LibraryFile] = []
    unreadable: list[tuple[Path, str]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and Path(dirpath, d) not in excluded)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            suffix = path.suffix.lower()
            if name.startswith(".") or not (every or suffix in wanted) or (not photos and suffix in PHOTO_EXTENSIONS):
                continue
            kind = PHOTO_KIND if suffix in PHOTO_EXTENSIONS else VIDEO_KIND
            scanned = _scanned(path, root, kind, named_as_media=not every or suffix in VIDEO_EXTENSIONS | PHOTO_EXTENSIONS)
            if isinstance(scanned, LibraryFile):
                found.append(scanned)
            else:
                unreadable.append((path, scanned))
    return found, unreadable


def _scanned(path: Path, root: Path, kind: str, named_as_media: bool) -> LibraryFile | str:
    """``path`` stat'ed and fingerprinted, or why it is not indexed (a link out of the library, a FIFO, unreadable)."""
    try:
        if path.is_symlink() and not is_within(Path(os.path.realpath(path)), root):
            return LINK_OUT_OF_LIBRARY
        stat = path.stat()
        if not S_ISREG(stat.st_mode):  # a FIFO or device would block the reader forever
            return "not a regular file"
        fingerprint = fingerprint_file(path, stat.st_size, stat.st_mtime_ns)
    except OSError as exc:
        return f"cannot read file: {exc.strerror or exc}"
    return LibraryFile(path, stat.st_size, stat.st_mtime_ns, fingerprint, stat.st_dev, stat.st_ino, kind, named_as_media)
