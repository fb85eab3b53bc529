"""Fixed windows: a video cut into consecutive segments of one length (vidseek's rule before shot detection)."""

from __future__ import annotations

from indexer.segment import Segment, plan_segments


def fixed_segments(duration: float, segment_seconds: float) -> list[Segment]:
    """Consecutive ``segment_seconds`` windows over ``[0, duration]``, a last sliver merged into the window before it
    (:func:`~indexer.segment.plan_segments`); none for a video with no length."""
    return plan_segments(duration, segment_seconds)
