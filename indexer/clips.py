"""Decoding a video's clips exactly as the index does: used by the build's decode workers, the server (classifying a
video, searching by a picture: :func:`image_frame`, which scales indexed photos too) and training sets. Also what
starts a decode worker process.

Torch-free on purpose (workers are spawned; importing torch there would cost seconds and memory).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexer.decoders import VideoInfo, encode_jpeg, get_decoder, require_media
from indexer.decoders.base import read_frames
from indexer.decoders.photo import MAX_IMAGE_PIXELS, image_frame  # noqa: F401 - re-exported: a picture searched by is scaled as an indexed photo
from indexer.decoders.resample import OPENCV_BILINEAR, SWSCALE
from indexer.segment import Segment, sample_frame_times
from indexer.segmenters import SegmentRule, segment_video

POSTER_SHORT_SIDE = 224  # posters are decoded at least this large, whatever the model's input size


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
    """A video's first task: its header, its segments (decided here: shots need a pass over every frame), and the
    frames of its first chunk of segments (None: too short for one)."""

    info: VideoInfo
    first: DecodedSegments | None
    segments: list[Segment] = field(default_factory=list)


def chunk_indexes(count: int, step: int) -> list[list[int]]:
    """Segment indexes ``0..count-1`` cut into decode chunks of ``step``."""
    return [list(range(first, min(first + step, count))) for first in range(0, count, step)]


def probe_video(decoder: str, path: str, named_as_media: bool = True) -> VideoInfo:
    """``path``'s header as ``decoder`` reads it. A file not ``named_as_media`` (a candidate only because every file of
    the library is) must first be recognised as media by FFmpeg: else :class:`~indexer.errors.NotMediaError`
    (:func:`~indexer.decoders.require_media`), as for text, or media without a video stream, whatever its name."""
    if not named_as_media:
        require_media(Path(path))
    return get_decoder(decoder).probe(Path(path))


def open_video(
    decoder: str,
    path: str,
    rule: SegmentRule,
    chunk_segments: int,
    frames: int,
    short_side: int,
    resample: str = SWSCALE,
    named_as_media: bool = True,
) -> OpenedVideo:
    """Probe a video (a photo: :data:`~indexer.decoders.PHOTO_DECODER`), cut it into segments by ``rule``
    (:func:`~indexer.segmenters.segment_video`; shots: a pass over every frame) and decode its first chunk of segments
    in one task (a short video, a photo: all of it). Raises :class:`~indexer.errors.NotMediaError` for a file that is no video
    (:func:`probe_video`), which a build skips, and :class:`~indexer.errors.DecodeError` for a broken one.

    A probe task of its own would cost every file one more round trip through the pool, and a wait in the
    scheduling process, before its frames are read. The caller plans the segments returned.
    """
    info, segments = segment_video(path, probe_video(decoder, path, named_as_media), rule)
    if not segments:
        return OpenedVideo(info, None, segments)
    first = [segments[i] for i in chunk_indexes(len(segments), chunk_segments)[0]]
    return OpenedVideo(info, decode_segments(decoder, path, first, frames, short_side, resample=resample), segments)


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
