"""What a video file holds (:func:`probe_media`) and whether a browser plays it as it is (:func:`browser_playable`),
which decides whether it needs a preview (:func:`needs_preview`).

The playability rule is what Chromium on Linux plays in software, without hardware decoders, and what other browsers
share with it:

* the MP4/MOV family (PyAV's container name holds ``mp4``): video H.264 (8-bit 4:2:0 only: ``yuv420p`` or
  ``yuvj420p``; Firefox and hardware decoders refuse High 10 and 4:2:2/4:4:4), VP9 or AV1; audio AAC, MP3, Opus,
  FLAC or none;
* Matroska/WebM: video VP8, VP9 or AV1; audio Vorbis, Opus or none. H.264 and HEVC in Matroska need a preview: only
  some Chromium builds play them, Firefox and Safari do not.

Everything else needs a preview: MPEG-2, MPEG-4 Part 2 (DivX, Xvid), HEVC in any container (Chromium decodes it
only in hardware), WMV, MJPEG, DV, Cinepak, MPEG-TS (.mts, .m2ts), MPEG-PS, AVI, FLV, 3GP with H.263. So does a
file whose every audio stream is not in the table (AC-3 in MP4 plays silently). Where a file's suffix is given, it
must be one the server sends with a type browsers accept for that container (Chromium sniffs the bytes, Firefox
refuses an MP4 sent as ``video/x-msvideo``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from indexer.decoders.base import MAX_CONSECUTIVE_PACKET_ERRORS, open_video_stream
from indexer.errors import DecodeError, NotMediaError

PREVIEW_MODES = ("auto", "all", "off")  # auto: only files a browser cannot play; all: every file; off: none

MP4_VIDEO = frozenset({"h264", "vp9", "av1"})
MP4_AUDIO = frozenset({"aac", "mp3", "opus", "flac"})
MP4_SUFFIXES = frozenset({".mp4", ".m4v", ".mov"})
WEBM_VIDEO = frozenset({"vp8", "vp9", "av1"})
WEBM_AUDIO = frozenset({"vorbis", "opus"})
WEBM_SUFFIXES = frozenset({".webm", ".mkv"})
MATROSKA = "matroska,webm"  # PyAV's one name for both
H264_PIXEL_FORMATS = frozenset({"yuv420p", "yuvj420p"})  # 8-bit 4:2:0: what every H.264 decoder in a browser takes


@dataclass(frozen=True)
class MediaProbe:
    """A file's container and first video stream, as FFmpeg reads its headers (nothing is decoded)."""

    container: str  # PyAV's container format name: "avi", "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "mpegts", ...
    video_codec: str | None  # FFmpeg's codec name ("h264", "hevc", "mpeg4", "av1", ...), not its decoder's; None: none
    pixel_format: str | None  # "yuv420p", "yuv420p10le", ...
    profile: str | None  # "High", "Main 10", "Simple Profile", ...
    audio_codecs: tuple[str, ...]  # every audio stream's codec, in stream order
    duration: float | None  # seconds, from the headers (the video stream's, else the container's)
    width: int | None
    height: int | None
    playable: bool  # browser_playable(...) of the above and the file's suffix


def probe_media(path: Path) -> MediaProbe:
    """The container and streams of ``path``, its video stream the one the indexer decodes (cover art aside); raises
    :class:`NotMediaError` when FFmpeg cannot open it or it has no video stream."""
    path = Path(path)
    try:
        with open_video_stream(path) as video:
            container, stream = video.container, video.stream
            audio = tuple(_codec_name(a) for a in container.streams.audio)
            pixel_format = stream.codec_context.pix_fmt or None
            video_codec = _codec_name(stream)
            fmt = container.format.name
            return MediaProbe(
                container=fmt,
                video_codec=video_codec,
                pixel_format=pixel_format,
                profile=stream.profile or None,
                audio_codecs=audio,
                duration=_duration(stream.duration, stream.time_base, container.duration),
                width=video.width,
                height=video.height,
                playable=browser_playable(fmt, video_codec, pixel_format, audio, path.suffix),
            )
    except NotMediaError:
        raise
    except DecodeError as exc:  # unreadable, no frame size, too large: FFmpeg cannot make a video of it
        raise NotMediaError(str(exc)) from exc


def display_rotation(path: Path) -> int:
    """How far the video is turned on display, in degrees counter-clockwise (0, 90, 180 or 270): a phone's portrait
    video is stored landscape and turned by its display matrix. Read from the first frame that decodes (PyAV shows
    the matrix on frames, not streams); raises :class:`DecodeError` when the file cannot be opened."""
    with open_video_stream(Path(path)) as video:
        errors = 0
        for packet in video.container.demux(video.stream):
            try:
                frames = packet.decode()
            except av.FFmpegError:
                errors += 1
                if errors > MAX_CONSECUTIVE_PACKET_ERRORS:
                    break
                continue
            if frames:
                return round((frames[0].rotation or 0) / 90) % 4 * 90
    return 0


def still_picture(container: str) -> bool:
    """A container of FFmpeg's picture demuxers (``image2``, ``jpeg_pipe``, ``png_pipe``...): a photo, which a page
    shows as it is, never as a video (an animated GIF is a video: ``gif``)."""
    return container == "image2" or container.endswith("_pipe")


def browser_playable(
    container: str, video_codec: str | None, pixel_format: str | None, audio_codecs: Iterable[str], suffix: str = ""
) -> bool:
    """Whether a browser plays the file as it is (the rule in this module's docstring); ``suffix`` (".mp4"), when
    given, must suit the container."""
    audio = set(audio_codecs)
    suffix = suffix.lower()
    if "mp4" in container.split(","):
        if suffix and suffix not in MP4_SUFFIXES:
            return False
        if video_codec == "h264" and pixel_format not in H264_PIXEL_FORMATS:
            return False
        return video_codec in MP4_VIDEO and audio <= MP4_AUDIO
    if container == MATROSKA:
        if suffix and suffix not in WEBM_SUFFIXES:
            return False
        return video_codec in WEBM_VIDEO and audio <= WEBM_AUDIO
    return False


def needs_preview(probe: MediaProbe, mode: str) -> bool:
    """Whether to make a preview of the probed file: ``auto``, when a browser cannot play it; ``all``, always;
    ``off``, never."""
    if mode not in PREVIEW_MODES:
        raise ValueError(f"unknown preview mode {mode!r}; expected one of {', '.join(PREVIEW_MODES)}")
    return mode == "all" or (mode == "auto" and not probe.playable)


def _codec_name(stream) -> str | None:
    """The codec's own name ("av1"), not the decoder FFmpeg picked for it ("libdav1d")."""
    codec = stream.codec_context.codec
    return codec.canonical_name if codec is not None else None


def _duration(stream_duration: int | None, time_base: Fraction | None, container_duration: int | None) -> float | None:
    """The header duration as the indexer's decoder reads it: the stream's, else the container's."""
    if stream_duration and time_base:
        return float(stream_duration * time_base)
    if container_duration:
        return container_duration / av.time_base
    return None
