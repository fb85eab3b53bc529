"""Cutting a video into segments (a photo: one, 0..0) and choosing which instants of a segment are sampled."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from indexer.decoders import VideoInfo

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


def segments_for(info: VideoInfo, segment_seconds: float) -> list[Segment]:
    """The segments a probed file is indexed as: a still (a photo) is one segment at 0.0, whose every sampled instant
    is 0.0, so it is never "too short"; a video is cut by :func:`plan_segments` (none: too short to index)."""
    if info.still:
        return [Segment(0.0, 0.0)]
    return plan_segments(info.duration, segment_seconds)


def sample_frame_times(start: float, end: float, num_frames: int, view: int = 0, views: int = 1) -> list[float]:
    """The instants sampled from ``[start, end]``: the one place that says which they are.

    TSN-style sparse sampling: the middle instant of each of ``num_frames`` equal sub-segments. A decoder gives each
    the frame shown at it (pts <= t < next pts), so a clip of N frames read whole yields frames
    ``floor((i + 0.5) * N / num_frames)``, ViFi-CLIP's test-time sampling (``SampleFrames._get_test_clips``).

    For multi-view inference, ``view`` ``v`` of ``views`` ``V`` takes instant ``(i + (v + 0.5) / V)`` of each
    sub-segment: the views are spread evenly through it, view by view (``views == 1``: the midpoints). The
    reference draws its views at random offsets (``SampleFrames._get_train_clips``, ``multiview``); these are
    deterministic, so an evaluation run twice scores alike.
    """
    if num_frames < 1:
        raise ValueError("num_frames must be >= 1")
    if views < 1 or not 0 <= view < views:
        raise ValueError(f"view must be in 0..{views - 1} for {views} view(s), not {view}")
    if end < start:
        raise ValueError(f"segment end {end} is before its start {start}")
    step = (end - start) / num_frames
    offset = (view + 0.5) / views
    return [start + (i + offset) * step for i in range(num_frames)]
