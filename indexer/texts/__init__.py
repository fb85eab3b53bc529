"""The words a video file carries, beside its pixels: subtitle cues (sidecar files, embedded text streams), its name
and folders, its container's title and comment. Torch-free: read in a build's decode workers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from indexer.texts.cues import Cue, cues_by_segment, parse_timed_text
from indexer.texts.embedded import embedded_cues
from indexer.texts.names import container_text, name_words
from indexer.texts.sidecars import read_sidecar, sidecar_stamp, sidecars_of

__all__ = ["Cue", "FileTexts", "cues_by_segment", "file_texts", "parse_timed_text", "sidecar_stamp", "sidecars_of"]


@dataclass(frozen=True)
class FileTexts:
    """What one file says in words: its cues in time order (sidecars first, then embedded streams), its name's
    words, its container's title and comment, and which sidecars were read."""

    cues: list[Cue] = field(default_factory=list)
    name: str = ""
    metadata: str = ""
    sidecars: list[str] = field(default_factory=list)

    @property
    def has_subtitles(self) -> bool:
        return bool(self.cues)


def file_texts(path: Path, library: Path | None = None, t0: float = 0.0, photo: bool = False) -> FileTexts:
    """``path``'s words. Cue times are on the indexer's clock (``t0``: the video stream's start time, which embedded
    subtitle packets count from); a photo has a name and no cues."""
    name = name_words(path, library)
    if photo:
        return FileTexts(name=name)
    sidecars = sidecars_of(path)
    cues = [cue for sidecar in sidecars for cue in read_sidecar(sidecar)]
    cues += embedded_cues(path, t0)
    return FileTexts(
        cues=sorted(cues, key=lambda c: (c.start, c.end)),
        name=name,
        metadata=container_text(path),
        sidecars=[s.name for s in sidecars],
    )
