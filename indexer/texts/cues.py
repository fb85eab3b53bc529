"""Timed text (a cue: start, end, words) from subtitle files and streams, cleaned of markup, and cues attached to the
segments they overlap. Pure functions: no file access (sidecars.py and embedded.py read)."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_CUE_CHARS = 2000  # a cue longer than this is cut (a broken file's "cue" can be the rest of the file)
_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})[,.](\d{1,3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")
_TAG = re.compile(r"<[^>\n]*>")  # <i>, </b>, <font color=...>, WebVTT's <c.x>, <v Name>, <00:01.000>
_ASS_OVERRIDE = re.compile(r"\{\\[^}]*\}")  # {\i1}, {\an8}, {\pos(1,2)}
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Cue:
    """Words shown from ``start`` to ``end`` (seconds on the video's clock), from ``source`` ("subtitle")."""

    start: float
    end: float
    text: str
    source: str = "subtitle"


def clean_text(text: str) -> str:
    """A cue's words without markup: HTML-like tags, ASS override blocks, ``\\N`` line breaks and entities; one line."""
    text = _ASS_OVERRIDE.sub("", text).replace("\\N", " ").replace("\\n", " ").replace("\\h", " ")
    text = html.unescape(_TAG.sub("", text))
    return _SPACE.sub(" ", text).strip()[:MAX_CUE_CHARS]


def _seconds(hours: str | None, minutes: str, seconds: str, fraction: str) -> float:
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(fraction.ljust(3, "0")) / 1000


def parse_timed_text(text: str) -> list[Cue]:
    """The cues of a SubRip (.srt) or WebVTT (.vtt) file: blocks of a timing line (``00:00:12,000 --> 00:00:15,000``,
    hours optional, ``,`` or ``.`` before the milliseconds, WebVTT cue settings after it) and the text lines under it,
    up to a blank line. Numbers, identifiers, the WEBVTT header and NOTE/STYLE/REGION blocks carry no timing line and
    are left out; a cue without words, or ending before it starts, too. Ordered by start."""
    cues: list[Cue] = []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    i = 0
    while i < len(lines):
        timing = _TIMING.match(lines[i])
        i += 1
        if timing is None:
            continue
        start, end = _seconds(*timing.groups()[:4]), _seconds(*timing.groups()[4:])
        words = []
        while i < len(lines) and lines[i].strip():
            if _TIMING.match(lines[i]) or _numbered(lines, i):  # the next cue, without a blank line before it
                break
            words.append(lines[i])
            i += 1
        cleaned = clean_text(" ".join(words))
        if cleaned and end > start:
            cues.append(Cue(round(start, 3), round(end, 3), cleaned))
    return sorted(cues, key=lambda c: (c.start, c.end))


def _numbered(lines: list[str], i: int) -> bool:
    """Line ``i`` is a SubRip cue number: digits alone, right above a timing line."""
    return lines[i].strip().isdigit() and i + 1 < len(lines) and _TIMING.match(lines[i + 1]) is not None


def cues_by_segment(cues: Sequence[Cue], spans: Sequence[tuple[float, float]]) -> list[list[Cue]]:
    """For each segment span (start, end; in time order), the cues it overlaps: a cue shown over a cut belongs to both
    sides. A one-frame segment (a photo: 0..0) gets none. A cue touching a span only at its edge is not in it."""
    found: list[list[Cue]] = [[] for _ in spans]
    ordered = sorted(cues, key=lambda c: c.start)
    for index, (start, end) in enumerate(spans):
        if end <= start:
            continue
        found[index] = [c for c in ordered if c.start < end and c.end > start]
    return found
