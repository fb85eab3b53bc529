"""Subtitle streams inside a video file (mov_text in MP4, SubRip/ASS/WebVTT in Matroska), read with PyAV: only the
subtitle packets are decoded, no frame. Bitmap subtitles (DVD, PGS, DVB) carry no text and are left out."""

from __future__ import annotations

import logging
from pathlib import Path

import av

from indexer.texts.cues import MAX_CUE_CHARS, Cue, clean_text

log = logging.getLogger(__name__)

TEXT_CODECS = {"mov_text", "subrip", "srt", "ass", "ssa", "webvtt", "text"}
MAX_CUES = 100_000  # a feature film has ~2,000; a stream with more is not read further
DEFAULT_CUE_SECONDS = 3.0  # a cue without a duration (some muxers leave it out) is shown this long


def embedded_cues(path: Path, t0: float | None = None) -> list[Cue]:
    """The cues of every text subtitle stream of ``path``, on the indexer's clock (seconds from the video stream's
    start: ``t0``, or the first video stream's start time when None); [] when there is none or the file cannot be
    read (a broken video fails in its decoder, not here)."""
    try:
        with av.open(str(path)) as container:
            streams = [s for s in container.streams.subtitles if s.codec_context.name in TEXT_CODECS]
            if not streams:
                return []
            return _read(container, streams, _video_start(container) if t0 is None else t0)
    except (av.FFmpegError, OSError, ValueError) as exc:
        log.warning("%s: cannot read its subtitle streams (%s)", path, exc)
        return []


def _video_start(container) -> float:
    video = next(iter(container.streams.video), None)
    if video is None or video.start_time is None:
        return 0.0
    return float(video.start_time * video.time_base)


def _read(container, streams, t0: float) -> list[Cue]:
    cues: list[Cue] = []
    for packet in container.demux(*streams):
        if packet.pts is None or packet.size == 0:
            continue
        stream = packet.stream
        start = float(packet.pts * stream.time_base) - t0
        length = float(packet.duration * stream.time_base) if packet.duration else DEFAULT_CUE_SECONDS
        try:
            subtitles = stream.decode(packet)
        except av.FFmpegError:
            continue
        words = " ".join(_text(subtitle) for subtitle in subtitles)
        cleaned = clean_text(words)
        if cleaned:
            cues.append(Cue(round(max(0.0, start), 3), round(max(0.0, start + length), 3), cleaned))
        if len(cues) >= MAX_CUES:
            break
    return sorted(cues, key=lambda c: (c.start, c.end))


def _text(subtitle) -> str:
    """One subtitle rectangle's words: an ASS dialogue's text field, or a plain text rectangle's."""
    for name in ("dialogue", "text"):
        value = getattr(subtitle, name, b"")
        if value:
            return (value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value))[:MAX_CUE_CHARS]
    return ""
