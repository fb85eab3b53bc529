"""Cutting a video into segments and choosing which instants of a segment are sampled."""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_TAIL_SECONDS = 1.0


@dataclass(frozen=True)
class Segment:
    """A time range of a video, in seconds from the start of its stream."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def plan_segments(duration: float, segment_seconds: float, min_tail: float = MIN_TAIL_SECONDS) -> list[Segment]:
    """Consecutive segments of ``segment_seconds`` covering ``[0, duration]``.

    A video no longer than one segment is one segment. A last piece shorter than ``min_tail`` is merged
    into the segment before it rather than indexed as a sliver.
    """
    if segment_seconds <= 0:
        raise ValueError("segment_seconds must be > 0")
    if not math.isfinite(duration) or duration <= 0:
        return []
    count = max(1, math.ceil(duration / segment_seconds - 1e-9))
    bounds = [min(i * segment_seconds, duration) for i in range(count)] + [duration]
    if count > 1 and bounds[-1] - bounds[-2] < min_tail:
        del bounds[-2]
    return [Segment(round(a, 6), round(b, 6)) for a, b in zip(bounds, bounds[1:])]


def sample_frame_times(start: float, end: float, num_frames: int) -> list[float]:
    """TSN-style sparse sampling: the middle instant of each of ``num_frames`` equal sub-segments."""
    if num_frames < 1:
        raise ValueError("num_frames must be >= 1")
    if end < start:
        raise ValueError(f"segment end {end} is before its start {start}")
    step = (end - start) / num_frames
    return [start + (i + 0.5) * step for i in range(num_frames)]
