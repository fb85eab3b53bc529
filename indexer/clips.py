"""Decoding a video's clips exactly as the index does: used by the build's decode workers, the server (classifying a
video, searching by a picture) and training sets. Also what starts a decode worker process.

Torch-free on purpose (workers are spawned; importing torch there would cost seconds and memory).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from indexer.decoders import VideoInfo, encode_jpeg, get_decoder, scaled_size
from indexer.decoders.base import read_frames
from indexer.decoders.resample import OPENCV_BILINEAR, SWSCALE, mmcv_size, opencv_bilinear
from indexer.errors import MAX_ASPECT_RATIO, FrameSizeError, NotAnImageError
from indexer.segment import Segment, plan_segments, sample_frame_times

POSTER_SHORT_SIDE = 224  # posters are decoded at least this large, whatever the model's input size
MAX_IMAGE_PIXELS = 64_000_000  # a decompression bomb is refused before it is decoded


def decode_short_side(resize: int) -> int:
    """The short side frames are decoded at for a model whose preprocessing resizes to ``resize``: large enough for
    the model and for the index's posters, so a clip is decoded once for both."""
    return max(resize, POSTER_SHORT_SIDE)


def decode_resampling(interpolation: str) -> str:
    """How frames are scaled as they are decoded for a model whose preprocessing names ``interpolation``:
    ``opencv-bilinear`` (ViFi-CLIP's weights: each full-size frame resized as the reference's OpenCV does), else
    libswscale (``swscale``): open_clip's weights keep the frames they were always decoded with. See
    :mod:`indexer.decoders.resample`."""
    return OPENCV_BILINEAR if interpolation == OPENCV_BILINEAR else SWSCALE


@dataclass
class DecodedSegments:
    clips: np.ndarray  # [S, T, H, W, 3] uint8
    posters: list[bytes]  # one JPEG per segment (its middle sampled frame); empty when none were asked for
    end_time: float | None  # the stream's real end, when it came before the instants asked for
    note: str | None = None  # a decoder fallback worth reporting


@dataclass
class OpenedVideo:
    """A video's first task: its header, and the frames of its first chunk of segments (None: too short for one)."""

    info: VideoInfo
    first: DecodedSegments | None


def chunk_indexes(count: int, step: int) -> list[list[int]]:
    """Segment indexes ``0..count-1`` cut into decode chunks of ``step``."""
    return [list(range(first, min(first + step, count))) for first in range(0, count, step)]


def probe_video(decoder: str, path: str) -> VideoInfo:
    return get_decoder(decoder).probe(Path(path))


def open_video(
    decoder: str,
    path: str,
    segment_seconds: float,
    chunk_segments: int,
    frames: int,
    short_side: int,
    resample: str = SWSCALE,
) -> OpenedVideo:
    """Probe a video and decode its first chunk of segments in one task (a short video: all of it).

    A probe task of its own would cost every file one more round trip through the pool, and a wait in the
    scheduling process, before its frames are read. The caller plans the same segments from ``info``.
    """
    info = probe_video(decoder, path)
    segments = plan_segments(info.duration, segment_seconds)
    if not segments:
        return OpenedVideo(info, None)
    first = [segments[i] for i in chunk_indexes(len(segments), chunk_segments)[0]]
    return OpenedVideo(info, decode_segments(decoder, path, first, frames, short_side, resample=resample))


def decode_segments(
    decoder: str,
    path: str,
    segments: list[Segment],
    frames: int,
    short_side: int,
    posters: bool = True,
    resample: str = SWSCALE,
) -> DecodedSegments:
    """The TSN-sampled frames of ``segments``, and (``posters``) a poster JPEG of each for the index."""
    times = [t for segment in segments for t in sample_frame_times(segment.start, segment.end, frames)]
    result = read_frames(get_decoder(decoder), Path(path), times, short_side, resample)
    clips = result.images.reshape(len(segments), frames, *result.images.shape[1:])
    jpegs = [encode_jpeg(clip[frames // 2]) for clip in clips] if posters else []
    return DecodedSegments(clips=clips, posters=jpegs, end_time=result.end_time, note=result.note)


def read_clip(
    path: str,
    frames: int,
    short_side: int,
    start: float = 0.0,
    end: float | None = None,
    decoder: str = "pyav",
    resample: str = SWSCALE,
    views: int = 1,
) -> np.ndarray:
    """``frames`` TSN-sampled frames [T, H, W, 3] of ``path`` between ``start`` and ``end`` (default: all); with
    ``views`` > 1, that many temporal views [V, T, H, W, 3] (:func:`~indexer.segment.sample_frame_times`), all
    decoded in one pass.

    Used to classify one video (an upload, too) and to train: no poster is made, as none is kept. When the stream
    ends before its header says, sampling is redone over the real length.
    """
    if end is None:
        end = probe_video(decoder, path).duration
    images, end_time = _read_views(decoder, path, Segment(start, end), frames, short_side, resample, views)
    if end_time is not None and end_time > start:
        images, _ = _read_views(decoder, path, Segment(start, end_time), frames, short_side, resample, views)
    clips = images.reshape(views, frames, *images.shape[1:])
    return clips[0] if views == 1 else clips


def _read_views(
    decoder: str, path: str, segment: Segment, frames: int, short_side: int, resample: str, views: int
) -> tuple[np.ndarray, float | None]:
    """The frames of every view of ``segment``, view after view, from one read; and where the stream ended."""
    times = [t for v in range(views) for t in sample_frame_times(segment.start, segment.end, frames, v, views)]
    result = read_frames(get_decoder(decoder), Path(path), times, short_side, resample)
    return result.images, result.end_time


def image_frame(data: bytes, short_side: int, resample: str = SWSCALE) -> np.ndarray:
    """A picture (an upload to search by) as a one-frame clip [1, H, W, 3] uint8, its short side scaled to
    ``short_side`` the way indexed frames are (:func:`~indexer.decoders.scaled_size`, which bounds the scaled size),
    so a picture and a clip of it land near each other: PIL's bicubic for ``swscale``, the decoders' own OpenCV
    bilinear (at mmcv's size) for ``opencv-bilinear``. Raises :class:`NotAnImageError`."""
    try:
        image = _decoded_image(data, short_side, draft=resample != OPENCV_BILINEAR)
        size = scaled_size(image.width, image.height, short_side)  # after JPEG draft and EXIF rotation
    except FrameSizeError as exc:
        raise NotAnImageError(
            f"the image is {exc.width}x{exc.height} pixels, too elongated to search by: "
            f"at most {MAX_ASPECT_RATIO:g}:1 (long side to short side) is accepted"
        ) from None
    if resample == OPENCV_BILINEAR:
        return opencv_bilinear(np.asarray(image, dtype=np.uint8), *mmcv_size(image.width, image.height, short_side))[None]
    image = image.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)
    return np.array(image, dtype=np.uint8)[None]  # a writable copy: torch wants one


def _decoded_image(data: bytes, short_side: int, draft: bool = True) -> Image.Image:
    """The picture decoded to RGB, after its header passed the pixel cap and the aspect-ratio bound; with ``draft``,
    a JPEG at a reduced size where it can (not for OpenCV's resize, which the reference runs on the full picture)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            pixels = image.width * image.height
            if 0 < pixels <= MAX_IMAGE_PIXELS:
                scaled_size(image.width, image.height, short_side)  # a 1x60000 strip is refused from its header
                if draft:
                    image.draft("RGB", (short_side, short_side))  # JPEG: decode at a reduced size when it can
                image = ImageOps.exif_transpose(image).convert("RGB")  # an animation gives its first frame
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        pixels = MAX_IMAGE_PIXELS + 1
    except UnidentifiedImageError:
        raise NotAnImageError("not an image: send a PNG, JPEG, WebP, GIF or BMP picture") from None
    except (OSError, SyntaxError, ValueError) as exc:  # a known format, but damaged or truncated
        raise NotAnImageError(f"the image could not be decoded: {exc}") from None
    if not 0 < pixels <= MAX_IMAGE_PIXELS:
        raise NotAnImageError(f"the image has {pixels:,} pixels: at most {MAX_IMAGE_PIXELS:,} are accepted")
    return image


def start_worker(parent_pid: int, workers_up, decoder: str) -> None:
    """Worker initializer: die with the parent (below), load the decoder backend (importing it can take seconds,
    which must not count against the first file's time limit), then count this worker in ``workers_up`` (a shared
    integer), so that the parent knows when tasks can really have started running."""
    die_with_parent(parent_pid)
    try:
        get_decoder(decoder)
    except Exception:  # noqa: BLE001 - each task then fails its file with the reason
        pass
    with workers_up.get_lock():
        workers_up.value += 1


def die_with_parent(parent_pid: int) -> None:
    """Worker initializer: on Linux, end this worker when the build process dies (even by kill -9),
    instead of leaving it orphaned."""
    import ctypes
    import os
    import signal
    import sys

    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass
    if os.getppid() != parent_pid:  # the parent died before the line above ran
        os._exit(1)
