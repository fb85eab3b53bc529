"""Subtitle files beside a video (``NAME.srt``, ``NAME.vtt``, ``NAME.LANG.srt``, ``NAME.en.forced.vtt``) and their
cues. A sidecar's fingerprint (size and mtime) goes into the video's, so an incremental build reads a new or changed
one again."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from indexer.texts.cues import Cue, parse_timed_text

log = logging.getLogger(__name__)

SIDECAR_EXTENSIONS = (".srt", ".vtt")
MAX_SIDECAR_BYTES = 8 * 2**20  # a feature film's subtitles are ~100 KB; more is no subtitle file
# Between the video's name and the extension: a language tag (en, eng, pt-BR, zh_Hans) and flags (forced, sdh, cc).
_QUALIFIERS = re.compile(r"^(?:\.(?:[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?|forced|sdh|cc|hi|default))*$", re.IGNORECASE)


def sidecars_of(video: Path, names: list[str] | None = None) -> list[Path]:
    """The subtitle files beside ``video`` that name it (``names``: the folder's file names, when the caller has
    listed it already), in name order. A qualifier between the names must look like a language tag or a flag
    (``clip.b.srt`` is nobody's), and a sidecar named exactly after another video of the folder is that one's
    (``clip.en.srt`` beside ``clip.en.mp4`` is not ``clip.mp4``'s English subtitles)."""
    if names is None:
        try:
            names = [entry.name for entry in video.parent.iterdir()]
        except OSError:
            return []
    from indexer.scan import VIDEO_EXTENSIONS

    stem = video.stem
    others = {Path(n).stem for n in names if n != video.name and Path(n).suffix.lower() in VIDEO_EXTENSIONS}
    found = []
    for name in sorted(names):
        lower = name.lower()
        ext = next((e for e in SIDECAR_EXTENSIONS if lower.endswith(e)), None)
        if ext is None or not name.startswith(stem):
            continue
        middle = name[len(stem) : len(name) - len(ext)]
        if _QUALIFIERS.match(middle) and (not middle or name[: len(name) - len(ext)] not in others):
            found.append(video.parent / name)
    return found


def sidecar_stamp(paths: list[Path]) -> str:
    """What changes when a sidecar is added, removed or edited: names, sizes and mtimes ("" for none)."""
    parts = []
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            continue
        parts.append(f"{path.name}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def decode_text_file(data: bytes) -> str:
    """A subtitle file's text: UTF-8 (with or without a BOM), UTF-16 with a BOM, else Windows-1252 (the usual
    encoding of older .srt files; every byte decodes)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def read_sidecar(path: Path) -> list[Cue]:
    """The cues of one sidecar; [] (logged) for one that cannot be read or is larger than a subtitle file is."""
    try:
        size = path.stat().st_size
        if size > MAX_SIDECAR_BYTES:
            log.warning("%s: %d bytes is more than a subtitle file holds; not read", path, size)
            return []
        return parse_timed_text(decode_text_file(path.read_bytes()))
    except OSError as exc:
        log.warning("%s: cannot read subtitles (%s)", path, exc.strerror or exc)
        return []
