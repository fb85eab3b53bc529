"""The words a video file carries, beside its pixels: subtitle cues (sidecar files, embedded text streams), its name
and folders, its container's title and comment. Torch-free: read in a build's decode workers."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from indexer.texts.cues import Cue, cues_by_segment, parse_timed_text
from indexer.texts.embedded import embedded_cues
from indexer.texts.names import container_facts, name_words
from indexer.texts.sidecars import read_sidecar, sidecar_stamp, sidecars_of
from indexer.texts.speech import SPEECH, FasterWhisper, Transcriber

__all__ = [
    "Cue",
    "FasterWhisper",
    "FileTexts",
    "Transcriber",
    "VideoWords",
    "cues_by_segment",
    "file_texts",
    "parse_timed_text",
    "sidecar_stamp",
    "sidecars_of",
    "text_stamp",
    "video_words",
]
log = logging.getLogger(__name__)
SUBTITLE, NAME, TITLE = "subtitle", "name", "title"  # where a text row's words come from (and SPEECH)


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
        """Subtitles, not a transcript: a cue of a sidecar or a subtitle stream."""
        return any(cue.source != SPEECH for cue in self.cues)


def file_texts(
    path: Path,
    library: Path | None = None,
    t0: float | None = None,
    photo: bool = False,
    transcriber: Transcriber | None = None,
) -> FileTexts:
    """``path``'s words. Cue times are on the indexer's clock (``t0``: the video stream's start time, which embedded
    subtitle packets count from; None: read from the file); a photo has a name and no cues. With a ``transcriber``
    its speech too (a failure is logged: the file keeps its other words)."""
    name = name_words(path, library)
    if photo:
        return FileTexts(name=name)
    sidecars = sidecars_of(path)
    cues = [cue for sidecar in sidecars for cue in read_sidecar(sidecar)]
    cues += embedded_cues(path, t0)
    if transcriber is not None:
        cues += _speech(transcriber, path)
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


def text_stamp(path: Path, fingerprint: str, names: list[str] | None = None, transcriber: str = "") -> str:
    """What a video's words were read from: its path (its name's words), its fingerprint (its streams and tags) and
    its sidecars (names, sizes, mtimes; ``names``: its folder's listing, when the caller has it). A build reads them
    again when it changes; and when its speech is transcribed by another ``transcriber`` (its name) than before."""
    stamp = f"{path}|{fingerprint}|{sidecar_stamp(sidecars_of(path, names))}"
    return f"{stamp}|{SPEECH}:{transcriber}" if transcriber else stamp


def video_words(
    path: Path,
    library: Path | None,
    spans: Sequence[tuple[float, float]],
    photo: bool = False,
    transcriber: Transcriber | None = None,
) -> VideoWords:
    """``path``'s words by segment (``spans``, in ordinal order): each cue (subtitle, or speech with a
    ``transcriber``) in every segment it overlaps, its name and title once for the whole video; made when its
    container says, else when the file was last written."""
    texts = file_texts(path, library, photo=photo, transcriber=transcriber)
    rows: list[tuple[int | None, str, float | None, float | None, str]] = []
    for ordinal, cues in enumerate(cues_by_segment(texts.cues, spans)):
        rows += [(ordinal, cue.source, cue.start, cue.end, cue.text) for cue in cues]
    if texts.name:
        rows.append((None, NAME, None, None, texts.name))
    if texts.metadata:
        rows.append((None, TITLE, None, None, texts.metadata))
    return VideoWords(rows, texts.created or _mtime(path), _folder(path, library), texts.has_subtitles)


def _speech(transcriber: Transcriber, path: Path) -> list[Cue]:
    try:
        return transcriber.transcribe(path)
    except Exception as exc:  # a transcript is never worth a file's other words
        log.warning("%s: cannot transcribe its speech (%s)", path, exc)
        return []


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
