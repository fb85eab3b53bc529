"""What every decoder shares: the :class:`Decoder` interface and its results, the one place a frame's size is decided
(:func:`scaled_size`), telling media from what is not (:func:`looks_like_text`, :func:`require_media`), opening a
file's video stream through PyAV (:func:`open_video_stream`), and the registry of backends (:func:`get_decoder`, which
also loads ``module:Class`` plugins).

Torch-free, as the whole package: it runs in decode worker processes.
"""

from __future__ import annotations

import bisect
import importlib
import inspect
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from stat import S_ISREG
from typing import Protocol

import av
import numpy as np

from indexer.decoders.resample import OPENCV_BILINEAR, SWSCALE, check_resampling, mmcv_size, opencv_bilinear
from indexer.errors import MAX_ASPECT_RATIO, DecodeError, FrameSizeError, NotMediaError

SEEK_GAP_SECONDS = 3.0  # gaps shorter than this are decoded through, longer ones skipped with one seek
MAX_FRAME_PIXELS = 8192 * 8192  # larger frames are refused, not decoded (memory bound per worker)
MAX_CONSECUTIVE_PACKET_ERRORS = 50
DEFAULT_FPS = 25.0  # what a stream that declares no frame rate is timed by
MAX_FPS = 1000.0  # a declared rate above this is no frame rate (high-speed cameras record 960 fps at most)
# An instant is in a frame's presentation interval when pts <= t < next pts, up to this many seconds: sampling
# computes instants in floats ((i + 0.5) * step), so an instant meant to fall exactly on a frame's start can come out
# a hair before it (2.9999999/fps for 3/fps) and would pick the frame before. A microsecond is far below any frame
# (a 1000 fps stream's frames are 1000 us long) and far above the noise of a float sum over hours (~1e-12 s).
TIME_TOLERANCE = 1e-6
SNIFF_BYTES = 4096  # the head of a file that says whether it holds text
# Bytes of text besides printable ASCII: tab, line feed, vertical tab, form feed, carriage return, backspace, escape
# (ANSI art), DOS's end-of-file mark, and every byte >= 0x80 (UTF-8, or a legacy code page such as an .nfo's CP437).
TEXT_BYTES = bytes([8, 9, 10, 11, 12, 13, 26, 27, *range(0x20, 0x7F), *range(0x80, 0x100)])
Y4M_SIGNATURE = b"YUV4MPEG2"  # a YUV4MPEG2 stream: a line of text, then raw pixels (which can look like text too)


@dataclass(frozen=True)
class VideoInfo:
    duration: float
    fps: float
    width: int
    height: int
    codec: str  # the codec's own name as FFmpeg knows it ("h264", "hevc", "av1"; "mjpeg", "png" for a photo), "" unknown
    still: bool = False  # a photo: one picture, no duration (indexed as one segment, 0..0); keep this field last


@dataclass
class Frames:
    """Frames read for a list of instants (one per instant, in the order asked)."""

    images: np.ndarray  # [N, H, W, 3] uint8
    times: list[float]  # the instant of each chosen frame, seconds from stream start
    end_time: float | None  # where the stream really ended, when that was before the last instant asked
    note: str | None = None  # what the decoder had to do differently (a fallback), for the build report


class Decoder(Protocol):
    name: str

    def probe(self, path: Path) -> VideoInfo: ...

    def read(self, path: Path, times: Sequence[float], short_side: int, resample: str = SWSCALE) -> Frames:
        """The frame shown at each instant (pts <= t < next pts; past the last frame, the last frame), its short
        side scaled to ``short_side`` (``resample``: see :mod:`indexer.decoders.resample`)."""


def scaled_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) scaled so that the shorter side is ``short_side``: the one place where the size of a decoded
    frame (video or picture) is decided, so its bound lives here. A frame more elongated than ``MAX_ASPECT_RATIO``
    raises :class:`FrameSizeError` before anything is allocated: a 2x2048 video would make 224x229,376 frames
    (150 MB each), a 1x60000 picture one of 9 GB."""
    if min(width, height) < 1 or max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise FrameSizeError(width, height)
    scale = short_side / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def frame_size(width: int, height: int, short_side: int, resample: str) -> tuple[int, int]:
    """The output size of a ``width`` x ``height`` frame: :func:`scaled_size` (and its bound), or for
    ``opencv-bilinear`` mmcv's rounding of the same scale (:func:`~indexer.decoders.resample.mmcv_size`)."""
    size = scaled_size(width, height, short_side)
    return mmcv_size(width, height, short_side) if check_resampling(resample) == OPENCV_BILINEAR else size


def containing_frame(starts: Sequence[float], t: float) -> int:
    """Index of the frame whose presentation interval holds ``t`` in sorted frame ``starts`` (pts <= t < next pts,
    up to ``TIME_TOLERANCE``); before the first frame, the first; past the last, the last."""
    return max(0, bisect.bisect_right(starts, t + TIME_TOLERANCE) - 1)


def past_the_end(last_instant: float, stream_end: float) -> bool:
    """An instant at or past where the stream's last frame stops being shown: the stream ended before it."""
    return last_instant + TIME_TOLERANCE >= stream_end


def resized_rgb(images: np.ndarray, width: int, height: int) -> np.ndarray:
    """Full-size [N, H, W, 3] frames resized by :func:`~indexer.decoders.resample.opencv_bilinear`, one at a time."""
    out = np.empty((len(images), height, width, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        out[i] = opencv_bilinear(image, width, height)
    return out


def read_frames(decoder: Decoder, path: Path, times: Sequence[float], short_side: int, resample: str = SWSCALE) -> Frames:
    """``decoder.read`` with ``resample``; a plugin whose ``read`` predates it (``read(path, times, short_side)``)
    is asked for libswscale frames as before, or for ``opencv-bilinear`` for full-size frames that are resized here
    (the whole read at full size in memory: such a plugin cannot resize each frame as it is chosen)."""
    if check_resampling(resample) == SWSCALE:
        return decoder.read(path, times, short_side)
    if "resample" in inspect.signature(decoder.read).parameters:
        return decoder.read(path, times, short_side, resample=resample)
    info = decoder.probe(path)
    result = decoder.read(path, times, min(info.width, info.height))
    if len(result.images):
        height, width = result.images.shape[1:3]
        result.images = resized_rgb(result.images, *frame_size(width, height, short_side, resample))
    return result


def redone_with(
    reference: Decoder, path: Path, times: Sequence[float], short_side: int, why: str, resample: str = SWSCALE
) -> Frames:
    """The read redone by ``reference`` after a faster backend failed it (``why``); its ``note`` says so."""
    result = read_frames(reference, path, times, short_side, resample)
    result.note = f"{why}; decoded with {reference.name}"
    return result


def frame_rate(*declared) -> float:
    """The first declared frame rate that is one (not None, not zero, not above ``MAX_FPS``: DV streams declare
    their time base, 60000, as their average rate), else ``DEFAULT_FPS``."""
    return next((float(rate) for rate in declared if rate and 0 < rate <= MAX_FPS), DEFAULT_FPS)


def encode_jpeg(image: np.ndarray, quality: int = 80) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def failure_reason(exc: Exception) -> str:
    """An FFmpeg or OS error without the file name it carries: the caller knows which file it read, and shown to a
    client an upload's name is the server's temporary path."""
    return getattr(exc, "strerror", None) or str(exc)


@dataclass(frozen=True)
class VideoStream:
    """A file's first video stream, opened and checked: its clock (origin and time base), frame rate and frame size."""

    container: av.container.InputContainer
    stream: av.video.stream.VideoStream
    t0: float  # the stream's start time: instants are seconds from here
    time_base: Fraction
    fps: float
    width: int
    height: int

    def seconds(self, pts: int) -> float:
        """A timestamp in ``time_base`` units as seconds from the stream's start."""
        return float(pts * self.time_base) - self.t0

    def seek(self, to: float) -> None:
        """To the keyframe at or before ``to`` seconds."""
        self.container.seek(int((to + self.t0) / self.time_base), stream=self.stream, backward=True, any_frame=False)

    def frame_time(self, frame, last_time: float | None) -> float:
        """When ``frame`` is shown; a frame without a timestamp comes one frame after the last one."""
        if frame.pts is not None:
            return self.seconds(frame.pts)
        return 0.0 if last_time is None else last_time + 1.0 / self.fps


@contextmanager
def open_video_stream(path: Path) -> Iterator[VideoStream]:
    """The first video stream of ``path`` (cover art aside), for the PyAV-based decoders; raises :class:`DecodeError`
    for an empty or unreadable file, or frames without a size or over ``MAX_FRAME_PIXELS``, and its
    :class:`NotMediaError` for a file that holds text or has no video stream (not a video: skipped by a build)."""
    with _open_container(path) as container:
        stream = _video_stream(container)
        ctx = stream.codec_context
        width, height = ctx.width, ctx.height
        if not width or not height:
            raise DecodeError("video stream has no frame size")
        if width * height > MAX_FRAME_PIXELS:
            raise DecodeError(f"frame size {width}x{height} is larger than the {MAX_FRAME_PIXELS // 10**6} Mpixel limit")
        yield VideoStream(
            container=container,
            stream=stream,
            t0=float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0,
            time_base=stream.time_base,
            fps=frame_rate(stream.average_rate, stream.guessed_rate),
            width=int(width),
            height=int(height),
        )


def decoded_packets(container: av.container.InputContainer, *streams) -> Iterator[tuple[av.stream.Stream, list]]:
    """(stream, frames) of each packet of ``streams`` demuxed from here on. An undecodable packet is skipped; more
    than ``MAX_CONSECUTIVE_PACKET_ERRORS`` in a row, or a demuxing error, raise :class:`DecodeError`."""
    packets = container.demux(*streams)
    errors = 0
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError as exc:
            raise DecodeError(f"demuxing failed: {failure_reason(exc)}") from exc
        try:
            frames = packet.decode()
        except av.FFmpegError as exc:
            errors += 1
            if errors > MAX_CONSECUTIVE_PACKET_ERRORS:
                raise DecodeError(f"too many undecodable packets: {failure_reason(exc)}") from exc
            continue
        errors = 0
        yield packet.stream, frames


def looks_like_text(head: bytes) -> bool:
    """Whether a file's first bytes (``head``, :func:`read_head`) are text, not media: no NUL byte and (almost) no
    other control character, the test ``file`` and git make. Such a file is not handed to FFmpeg, which would read
    some text as video (its tty demuxer renders an .nfo as frames of ANSI art) and follow a playlist's paths out of
    the library: a TypeScript ``x.ts``, subtitles, an .nfo are not videos. A YUV4MPEG2 stream is media: its header is
    a line of text, and its raw pixels can be bytes of text too. Empty: not text (an empty file is no media either)."""
    if not head or head.startswith(Y4M_SIGNATURE) or b"\0" in head:
        return False
    return len(head.translate(None, TEXT_BYTES)) * 50 <= len(head)  # at most 2% other control characters


def read_head(path: Path, size: int = SNIFF_BYTES) -> bytes:
    """The first ``size`` bytes of ``path``; raises :class:`DecodeError` when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError as exc:
        raise DecodeError(f"cannot read the file: {failure_reason(exc)}") from exc


def require_media(path: Path) -> None:
    """Raises :class:`NotMediaError` unless FFmpeg recognises ``path``'s content as media with a video stream: for a
    file that is a candidate only because every file of the library is, whose failure to open says that it is no
    video at all (an archive, a document), not that it is a broken one. (A file named as a video that FFmpeg cannot
    open is a broken video: its probe's :class:`DecodeError` is reported.)"""
    try:
        container = _open_container(path)
    except NotMediaError:
        raise
    except DecodeError as exc:  # empty, or no format FFmpeg knows
        raise NotMediaError(f"not media: {exc}") from None
    with container:
        _video_stream(container)


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    """The first video stream that is not a cover picture (an audio file's artwork is a one-frame "video" stream);
    raises :class:`NotMediaError` when there is none: an audio file, subtitles, data."""
    streams = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not streams:
        raise NotMediaError("has no video stream")
    return streams[0]


def _open_container(path: Path):
    try:
        stat = path.stat()
        if S_ISREG(stat.st_mode):  # never read from a FIFO or a device here: it could block for ever
            if stat.st_size == 0:
                raise DecodeError("the file is empty (0 bytes)")  # FFmpeg would say "Invalid data found when processing input"
            if looks_like_text(read_head(path)):
                raise NotMediaError("not a video: the file holds text")
        return av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise DecodeError(f"not a readable media file: {failure_reason(exc)}") from exc


# The built-in backends, each loaded only when chosen (torchcodec imports torch, decord its own libraries).
DECODERS: dict[str, str] = {
    "pyav": "indexer.decoders.pyav:PyAVDecoder",
    "pyav-keyframes": "indexer.decoders.keyframes:PyAVKeyframeDecoder",
    "decord": "indexer.decoders.decord:DecordDecoder",
    "torchcodec": "indexer.decoders.torchcodec:TorchCodecDecoder",
}
UNVERIFIED = {"pyav", "pyav-keyframes", "torchcodec"}  # the reference, its keyframe mode (differs on purpose), and
# torchcodec (checks the timestamp of every frame itself, see TorchCodecDecoder)
# The backend of pictures: a build decodes its photos with it, whichever backend decodes its videos (not a choice of
# video backend, hence not in DECODERS; and never spot-checked against PyAV: Pillow, not FFmpeg, is its reference).
PHOTO_DECODER = "photo"
STILL_DECODERS: dict[str, str] = {PHOTO_DECODER: "indexer.decoders.photo:PhotoDecoder"}


def get_decoder(name: str = "pyav", verified: bool = True) -> Decoder:
    """The named backend, or a plugin named ``package.module:ClassName``; any backend but PyAV (the reference, or its
    keyframe mode) and torchcodec comes wrapped in :class:`~indexer.decoders.verified.VerifiedDecoder`. ``photo``
    (:data:`PHOTO_DECODER`) is the pictures' backend."""
    if name in STILL_DECODERS:
        return _load(STILL_DECODERS[name])()
    if ":" in name:
        decoder = _load(name)()
    else:
        try:
            location = DECODERS[name]
        except KeyError:
            raise ValueError(f"unknown decoder {name!r}; available: {', '.join(DECODERS)} or module:Class") from None
        decoder = _load(location)()
    if verified and name not in UNVERIFIED:
        from indexer.decoders.verified import VerifiedDecoder  # which imports this module

        return VerifiedDecoder(decoder)
    return decoder


def _load(location: str) -> type:
    """The class at ``module:Class``."""
    module, _, cls = location.partition(":")
    return getattr(importlib.import_module(module), cls)
