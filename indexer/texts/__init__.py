"""The words a video file carries, beside its pixels: subtitle cues (sidecar files, embedded text streams), its name
and folders, its container's title and comment. Torch-free: read in a build's decode workers."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from indexer.texts.cues import Cue, cues_by_segment, parse_timed_text
from indexer.texts.embedded import embedded_cues
from indexer.texts.names import container_facts, name_words
from indexer.texts.sidecars import read_sidecar, sidecar_stamp, sidecars_of

__all__ = [
    "Cue",
    "FileTexts",
    "VideoWords",
    "cues_by_segment",
    "file_texts",
    "parse_timed_text",
    "sidecar_stamp",
    "sidecars_of",
    "text_stamp",
    "video_words",
]
SUBTITLE, NAME, TITLE = "subtitle", "name", "title"  # where a text row's words come from


@dataclass(frozen=True)
class FileTexts:
    """What one file says in words: its cues in time order (sidecars first, then embedded streams), its name's
    words, its container's title and comment, and which sidecars were read."""

    cues: list[Cue] = field(default_factory=list)
    name: str = ""
    metadata: str = ""
    sidecars: list[str] = field(default_factory=list)
    created: datetime | None = None  # the container's creation time

    @property
    def has_subtitles(self) -> bool:
        return bool(self.cues)


def file_texts(path: Path, library: Path | None = None, t0: float | None = None, photo: bool = False) -> FileTexts:
    """``path``'s words. Cue times are on the indexer's clock (``t0``: the video stream's start time, which embedded
    subtitle packets count from; None: read from the file); a photo has a name and no cues."""
    name = name_words(path, library)
    if photo:
        return FileTexts(name=name)
    sidecars = sidecars_of(path)
    cues = [cue for sidecar in sidecars for cue in read_sidecar(sidecar)]
    cues += embedded_cues(path, t0)
    metadata, created = container_facts(path)
    return FileTexts(
        cues=sorted(cues, key=lambda c: (c.start, c.end)),
        name=name,
        metadata=metadata,
        sidecars=[s.name for s in sidecars],
        created=created,
    )


@dataclass(frozen=True)
class VideoWords:
    """A catalogued video's words as the catalog stores them: ``rows`` of (segment ordinal or None for the whole
    video, source, start, end, body), and its facets: when it was made, its folder, whether it has subtitles."""

    rows: list[tuple[int | None, str, float | None, float | None, str]]
    created: datetime | None
    folder: str
    has_subtitles: bool


def text_stamp(path: Path, fingerprint: str, names: list[str] | None = None) -> str:
    """What a video's words were read from: its path (its name's words), its fingerprint (its streams and tags) and
    its sidecars (names, sizes, mtimes; ``names``: its folder's listing, when the caller has it). A build reads them
    again when it changes."""
    return f"{path}|{fingerprint}|{sidecar_stamp(sidecars_of(path, names))}"


def video_words(path: Path, library: Path | None, spans: Sequence[tuple[float, float]], photo: bool = False) -> VideoWords:
    """``path``'s words by segment (``spans``, in ordinal order): each cue in every segment it overlaps, its name
    and title once for the whole video; made when its container says, else when the file was last written."""
    texts = file_texts(path, library, photo=photo)
    rows: list[tuple[int | None, str, float | None, float | None, str]] = []
    for ordinal, cues in enumerate(cues_by_segment(texts.cues, spans)):
        rows += [(ordinal, SUBTITLE, cue.start, cue.end, cue.text) for cue in cues]
    if texts.name:
        rows.append((None, NAME, None, None, texts.name))
    if texts.metadata:
        rows.append((None, TITLE, None, None, texts.metadata))
    return VideoWords(rows, texts.created or _mtime(path), _folder(path, library), texts.has_subtitles)


def _mtime(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(os.stat(path).st_mtime, UTC)
    except OSError:
        return None


def _folder(path: Path, library: Path | None) -> str:
    """``path``'s folder below ``library`` ("" at its top), with "/" between names; its absolute folder outside it."""
    try:
        return path.parent.relative_to(library).as_posix() if library is not None else path.parent.as_posix()
    except ValueError:
        return path.parent.as_posix()
