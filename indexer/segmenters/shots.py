"""Shot boundaries (hard cuts) found over every frame of a video at low resolution, and shots turned into segments.

A frame's score is the mean absolute difference of its small signature (a 64x36 grid of Y, U and V samples) from the
previous frame's. A frame is a cut when its score is well above the mean of its neighbours' (PySceneDetect's
AdaptiveDetector rule) and above an absolute floor; within ``MIN_SHOT_FRAMES`` of a stronger cut it is not, so a fade
or a dissolve, whose frames all differ a little, gives no cut (or one), never a burst. Torch-free: it runs in decode
workers. Times are the indexer's clock (seconds from the video stream's start, :meth:`VideoStream.seconds`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from indexer.decoders.base import decoded_packets, open_video_stream
from indexer.segment import Segment

GRID = (36, 64)  # rows, columns of each plane's signature
ADAPTIVE_RATIO = 3.0  # a cut's score is at least this many times its neighbours' mean
WINDOW = 2  # neighbours on each side in that mean
MIN_SCORE = 12.0  # and at least this (mean absolute difference, 0..255): noise and slow motion are no cuts
ABOVE_MOTION = 1.4  # or this many times the busier side's mean, and ratio times the calmer side's
MIN_SHOT_FRAMES = 8  # cuts closer than this keep only the strongest
SCAN_OPTIONS = {"skip_loop_filter": "all"}  # FFmpeg decoder options of the pass over every frame
PLANAR = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "gray"}


@dataclass
class ShotScan:
    """What a pass over every frame found: the start time of each frame, each frame's score (0 for the first), and
    the indexes of the frames that begin a new shot."""

    times: list[float]
    scores: np.ndarray
    cuts: list[int]
    end: float  # where the last frame stops being shown

    @property
    def cut_times(self) -> list[float]:
        return [self.times[i] for i in self.cuts]


def _grid(plane) -> np.ndarray:
    """A GRID-sized sample of one 8-bit plane: the mean of two diagonal points in each cell (cheap, less aliasing)."""
    pixels = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
    rows = (np.arange(GRID[0]) + 0.5) * plane.height / GRID[0]
    cols = (np.arange(GRID[1]) + 0.5) * plane.width / GRID[1]
    near = pixels[np.ix_(rows.astype(int), cols.astype(int))].astype(np.int16)
    far = pixels[
        np.ix_(
            np.minimum(rows + plane.height / GRID[0] / 4, plane.height - 1).astype(int),
            np.minimum(cols + plane.width / GRID[1] / 4, plane.width - 1).astype(int),
        )
    ]
    return (near + far) >> 1


def signature(frame: av.VideoFrame) -> np.ndarray:
    """A frame's small signature: its planes sampled on a grid (any other pixel format scaled to yuv420p first)."""
    if frame.format.name not in PLANAR:
        frame = frame.reformat(width=GRID[1] * 2, height=GRID[0] * 2, format="yuv420p")
    return np.stack([_grid(plane) for plane in frame.planes[:3]])


def frame_scores(path: Path) -> tuple[list[float], np.ndarray, float]:
    """Every frame's start time and score, and where the stream ends, from one decoding pass over ``path``."""
    times, scores, previous = [], [], None
    with open_video_stream(path) as video:
        video.stream.thread_type = "AUTO"
        # Without the deblocking filter H.264/HEVC decode ~15-20 % faster (measured on 720p x264); a 64x36 grid of
        # means does not see the block edges it would have smoothed. These frames only ever feed the signatures.
        video.stream.codec_context.options = SCAN_OPTIONS
        last = None
        for frame in _frames(video):
            last = video.frame_time(frame, last)
            current = signature(frame)
            scores.append(
                0.0 if previous is None or previous.shape != current.shape else float(np.abs(current - previous).mean())
            )
            times.append(last)
            previous = current
        end = (times[-1] + 1.0 / video.fps) if times else 0.0
    order = np.argsort(times, kind="stable")  # frames come in presentation order; a stray timestamp is sorted here
    return [times[i] for i in order], np.asarray(scores)[order], end


def _frames(video):
    for _, frames in decoded_packets(video.container, video.stream):
        yield from frames
    try:
        yield from video.stream.decode(None)  # the frames still buffered at the end (B-frames)
    except (av.FFmpegError, EOFError, ValueError):
        return


def find_cuts(
    scores: np.ndarray, ratio: float = ADAPTIVE_RATIO, floor: float = MIN_SCORE, min_gap: int = MIN_SHOT_FRAMES
) -> list[int]:
    """Indexes of the frames that start a shot (none at frame 0). A frame is a candidate when its score is at least
    ``floor`` and either ``ratio`` times the mean of its ``WINDOW`` neighbours each side, or ``ratio`` times the
    calmer side's mean and ``ABOVE_MOTION`` times the busier side's (a cut out of a fast pan into a still shot: the
    pan's scores are high, but the cut stands above them). Of candidates closer than ``min_gap`` frames only the
    strongest stays."""
    scores = np.asarray(scores, dtype=np.float64)
    n = len(scores)
    if n < 2:
        return []
    before, after = _side_mean(scores, -1), _side_mean(scores, 1)
    both = (before + after) / 2
    calm, busy = np.minimum(before, after), np.maximum(before, after)
    candidate = (scores >= floor) & ((scores >= ratio * both) | ((scores >= ratio * calm) & (scores >= ABOVE_MOTION * busy)))
    candidate[0] = False
    kept: list[int] = []
    for i in sorted(np.flatnonzero(candidate).tolist(), key=lambda i: -scores[i]):
        if i >= min_gap and all(abs(i - k) >= min_gap for k in kept):
            kept.append(i)
    return sorted(kept)


def _side_mean(scores: np.ndarray, direction: int) -> np.ndarray:
    """Each frame's mean score over its ``WINDOW`` neighbours on one side (0 where it has none; frame 0 has no score)."""
    n = len(scores)
    total, count = np.zeros(n), np.zeros(n)
    for k in range(1, WINDOW + 1):
        shift = k * direction
        index = np.arange(n) + shift
        valid = (index >= 1) & (index < n)
        total[valid] += scores[index[valid]]
        count[valid] += 1
    return np.divide(total, count, out=np.zeros(n), where=count > 0)


def scan_shots(path: Path) -> ShotScan:
    """The shots of ``path``: one decoding pass (PyAV), then :func:`find_cuts`."""
    times, scores, end = frame_scores(path)
    return ShotScan(times=times, scores=scores, cuts=find_cuts(scores), end=end)


def shot_segments(
    cuts: list[float], duration: float, frame_times: list[float], max_seconds: float, min_seconds: float
) -> list[Segment]:
    """Segments covering ``[0, duration]`` from shot boundaries ``cuts``: a shot shorter than ``min_seconds`` joins
    its shorter neighbour, a shot longer than ``max_seconds`` is split into equal parts no longer than it, each
    split on the frame boundary (a time of ``frame_times``) nearest its ideal point."""
    if min_seconds <= 0 or max_seconds <= min_seconds:
        raise ValueError(f"need 0 < min_segment_seconds < max_segment_seconds, not {min_seconds} and {max_seconds}")
    if not math.isfinite(duration) or duration <= 0:
        return []
    bounds = [0.0, *sorted(t for t in cuts if 0 < t < duration), duration]
    bounds = _merge_short(bounds, min_seconds)
    frame = _frame_step(frame_times)
    out = []
    for start, end in zip(bounds, bounds[1:]):
        parts = max(1, math.ceil((end - start) / max(max_seconds - frame, max_seconds / 2) - 1e-9))
        points = [start] + [_snap(start + (end - start) * k / parts, frame_times) for k in range(1, parts)] + [end]
        out += [Segment(round(a, 6), round(b, 6)) for a, b in zip(points, points[1:]) if b > a]
    return out


def _merge_short(bounds: list[float], min_seconds: float) -> list[float]:
    """Drop boundaries until no shot is shorter than ``min_seconds`` (unless one shot is left): the shortest shot
    first, joined to its shorter neighbour."""
    bounds = list(bounds)
    while len(bounds) > 2:
        lengths = [b - a for a, b in zip(bounds, bounds[1:])]
        shortest = min(range(len(lengths)), key=lengths.__getitem__)
        if lengths[shortest] >= min_seconds:
            break
        if shortest == 0:
            del bounds[1]
        elif shortest == len(lengths) - 1 or lengths[shortest - 1] <= lengths[shortest + 1]:
            del bounds[shortest]  # joins the shot before
        else:
            del bounds[shortest + 1]  # joins the shot after
    return bounds


def _frame_step(times: list[float]) -> float:
    return float(np.median(np.diff(times))) if len(times) > 1 else 0.0


def _snap(t: float, times: list[float]) -> float:
    """The frame start nearest ``t`` (``t`` itself when no frame times are known)."""
    if not times:
        return t
    i = int(np.clip(np.searchsorted(times, t), 1, len(times) - 1)) if len(times) > 1 else 0
    return min(times[max(0, i - 1) : i + 1], key=lambda s: abs(s - t))
