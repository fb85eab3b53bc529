"""How a video is cut into segments: fixed windows (:mod:`.fixed`) or shots (:mod:`.shots`); a photo is one segment
0..0 whatever the rule. Torch-free: the segments are decided in a decode worker's open task."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from indexer.decoders import VideoInfo
from indexer.segment import Segment
from indexer.segmenters.fixed import fixed_segments

SEGMENTERS = ("shots", "fixed")


@dataclass(frozen=True)
class SegmentRule:
    """Which segmenter a build uses, with its parameters (``segment_seconds``: fixed; ``max``/``min``: shots)."""

    segmenter: str = "shots"
    segment_seconds: float = 10.0
    max_seconds: float = 20.0
    min_seconds: float = 2.0

    def __post_init__(self):
        if self.segmenter not in SEGMENTERS:
            raise ValueError(f"segments are one of {', '.join(SEGMENTERS)}, not {self.segmenter!r}")
        if self.segmenter == "shots" and not 0 < self.min_seconds < self.max_seconds:
            raise ValueError(
                f"need 0 < min segment seconds < max segment seconds, not {self.min_seconds:g} and {self.max_seconds:g}"
            )


def recorded_rule(manifest) -> SegmentRule:
    """The rule an index was built with, from its manifest (an index older than the field: fixed windows)."""
    if manifest.segmenter == "shots":
        return SegmentRule("shots", manifest.segment_seconds, manifest.max_segment_seconds, manifest.min_segment_seconds)
    return SegmentRule("fixed", manifest.segment_seconds)


def segment_video(path: str | Path, info: VideoInfo, rule: SegmentRule) -> tuple[VideoInfo, list[Segment]]:
    """The segments ``info``'s file is indexed as under ``rule``, and its info (for shots, the duration the pass over
    every frame found when the stream ends before its header says). None: too short to index."""
    if info.still:
        return info, [Segment(0.0, 0.0)]
    if rule.segmenter == "fixed":
        return info, fixed_segments(info.duration, rule.segment_seconds)
    from indexer.segmenters.shots import scan_shots, shot_segments

    scan = scan_shots(Path(path))
    if scan.times and scan.end < info.duration - max(0.5, 2.0 / max(info.fps, 1.0)):
        info = dataclasses.replace(info, duration=round(scan.end, 6))
    segments = shot_segments(scan.cut_times, info.duration, scan.times, rule.max_seconds, rule.min_seconds)
    return info, segments


def resegment(rule: SegmentRule, segments: list[Segment], real_end: float) -> list[Segment]:
    """The segments over a stream found to end at ``real_end``: fixed windows planned again over the real length;
    shots kept, those past the end dropped and the last cut at it."""
    if rule.segmenter == "fixed":
        return fixed_segments(real_end, rule.segment_seconds)
    kept = [s for s in segments if s.start < real_end]
    if kept:
        kept[-1] = Segment(kept[-1].start, round(min(kept[-1].end, real_end), 6))
    return [s for s in kept if s.end > s.start]
