"""Videos with embedded text subtitle streams, written with PyAV (no ffmpeg command line): mov_text in MP4, SubRip,
ASS and WebVTT in Matroska. Each cue is one packet at its time."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ASS_HEADER = (
    b"[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n[V4+ Styles]\n"
    b"Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, "
    b"Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, "
    b"MarginR, MarginV, Encoding\nStyle: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0"
    b"\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
)
FORMATS = {"mov_text": "mp4", "subrip": "matroska", "ass": "matroska", "webvtt": "matroska"}


def _payload(codec: str, text: str) -> bytes:
    data = text.encode()
    if codec == "mov_text":  # a 16-bit length, then the text (3GPP timed text)
        return len(data).to_bytes(2, "big") + data
    if codec == "ass":  # a dialogue line without its times: ReadOrder, Layer, Style, Name, margins, Effect, Text
        return b"0,0,Default,,0,0,0,," + data
    return data


def write_subtitled_video(
    path: Path,
    cues: list[tuple[float, float, str]],
    codec: str = "mov_text",
    seconds: float = 20.0,
    fps: int = 10,
    size: tuple[int, int] = (64, 48),
    color: tuple[int, int, int] = (40, 90, 200),
    title: str | None = None,
    comment: str | None = None,
) -> Path:
    """A ``seconds``-long video of one colour with a ``codec`` subtitle stream showing each (start, end, text) cue
    (none: no subtitle stream), and the container's ``title`` and ``comment`` tags where given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pending = sorted(cues)
    with av.open(str(path), "w", format=FORMATS[codec]) as container:
        container.metadata.update({k: v for k, v in (("title", title), ("comment", comment)) if v})
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        if cues:
            subtitles = container.add_stream(codec)
            subtitles.codec_context.subtitle_header = ASS_HEADER
            subtitles.time_base = Fraction(1, 1000)
        image = np.empty((size[1], size[0], 3), np.uint8)
        image[:] = color
        for index in range(round(seconds * fps)):
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
            while pending and pending[0][0] <= index / fps:
                start, end, text = pending.pop(0)
                packet = av.Packet(_payload(codec, text))
                packet.stream = subtitles
                packet.pts = packet.dts = round(start * 1000)
                packet.duration = round((end - start) * 1000)
                packet.time_base = subtitles.time_base
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
    return path
