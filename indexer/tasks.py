"""Work done in decode worker processes: probing a file and reading the frames of its segments.

Torch-free on purpose (workers are spawned; importing torch there would cost seconds and memory).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.decode import VideoInfo, encode_jpeg, get_decoder
from indexer.segment import Segment, sample_frame_times


@dataclass
class DecodedSegments:
    clips: np.ndarray  # [S, T, H, W, 3] uint8
    posters: list[bytes]  # one JPEG per segment (its middle sampled frame)
    end_time: float | None  # the stream's real end, when it came before the instants asked for
    note: str | None = None  # a decoder fallback worth reporting


def probe_video(decoder: str, path: str) -> VideoInfo:
    return get_decoder(decoder).probe(Path(path))


def decode_segments(decoder: str, path: str, segments: list[Segment], frames: int, short_side: int) -> DecodedSegments:
    times = [t for segment in segments for t in sample_frame_times(segment.start, segment.end, frames)]
    result = get_decoder(decoder).read(Path(path), times, short_side)
    clips = result.images.reshape(len(segments), frames, *result.images.shape[1:])
    posters = [encode_jpeg(clip[frames // 2]) for clip in clips]
    return DecodedSegments(clips=clips, posters=posters, end_time=result.end_time, note=result.note)


def read_clip(
    path: str, frames: int, short_side: int, start: float = 0.0, end: float | None = None, decoder: str = "pyav"
) -> np.ndarray:
    """``frames`` TSN-sampled frames [T, H, W, 3] of ``path`` between ``start`` and ``end`` (default: all).

    Used to classify one video. When the stream ends before its header says, sampling is redone over
    the real length.
    """
    if end is None:
        end = probe_video(decoder, path).duration
    decoded = decode_segments(decoder, path, [Segment(start, end)], frames, short_side)
    if decoded.end_time is not None and decoded.end_time > start:
        decoded = decode_segments(decoder, path, [Segment(start, decoded.end_time)], frames, short_side)
    return decoded.clips[0]


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
