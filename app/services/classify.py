"""Zero-shot classification: an uploaded video file, an indexed segment (its stored vector) or a whole indexed video
(its checked file, decoded again), ranked against labels by the float model; and the action timeline: every segment
classified, runs of the same top label merged (:func:`merge_runs`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.errors import NotFoundError
from app.services.current_index import CurrentIndex
from app.services.library import LibraryBrowser
from indexer import PHOTO_KIND
from indexer.clips import chunk_indexes, decode_resampling, decode_segments, decode_short_side, probe_video, read_clip
from indexer.errors import DecodeError
from indexer.segment import Segment
from indexer.segmenters import SegmentRule, recorded_rule, resegment, segment_video
from models import VideoEncoder, zero_shot_probabilities
from models.views import classify_views

DEFAULT_FRAMES = 8  # frames per clip for an upload while no index says how many its model was built with
TIMELINE_CHUNK = 16  # segments decoded and embedded at a time: a long video's frames never all sit in memory
TIMELINE_REPLANS = 2  # re-plans over a stream's real length before its timeline is given up
TIMELINE_DECODER = "pyav"  # the reference decoder, as for a whole file (read_clip)

Ranking = list[tuple[str, float, float]]  # (label, cosine, probability), best first


@dataclass(frozen=True)
class TimelineRun:
    """Consecutive segments with the same top label: their span, the label, and its mean cosine and probability."""

    start: float
    end: float
    label: str
    score: float
    probability: float
    segments: int  # how many segments the run merges


def merge_runs(spans: Sequence[tuple[float, float]], rankings: Sequence[Ranking]) -> list[TimelineRun]:
    """The timeline of segments ``spans`` (in time order) ranked by ``rankings``: each run of consecutive segments
    whose top label is the same becomes one run from the first one's start to the last one's end; a different top
    label starts a new run. A run's score and probability are the means, over its segments (each counted once), of
    its label's cosine and probability: a mean says how sure the run is throughout, where a maximum would let one
    confident segment speak for a long run."""
    if len(spans) != len(rankings):
        raise ValueError(f"{len(spans)} segments but {len(rankings)} rankings")
    runs: list[TimelineRun] = []
    members: list[tuple[str, float, float]] = []
    start = end = 0.0
    for (seg_start, seg_end), ranking in zip(spans, rankings):
        top = ranking[0]
        if members and top[0] != members[0][0]:
            runs.append(_run(start, end, members))
            members = []
        if not members:
            start = seg_start
        members.append(top)
        end = seg_end
    if members:
        runs.append(_run(start, end, members))
    return runs


def _run(start: float, end: float, members: list[tuple[str, float, float]]) -> TimelineRun:
    score = float(np.mean([m[1] for m in members]))
    probability = float(np.mean([m[2] for m in members]))
    return TimelineRun(start, end, members[0][0], score, probability, len(members))


def rank_vectors(encoder: VideoEncoder, vectors: Sequence[np.ndarray], labels: list[str], template: str) -> list[Ranking]:
    """``encoder.classify_vector`` of each vector, the labels encoded once for all (same math, same order)."""
    label_vectors = encoder.encode_text(labels, template)
    rankings = []
    for vector in vectors:
        scores = label_vectors @ vector
        probabilities = zero_shot_probabilities(scores, encoder.logit_scale)
        order = np.argsort(-probabilities, kind="stable")
        rankings.append([(labels[i], float(scores[i]), float(probabilities[i])) for i in order])
    return rankings


class Classifier:
    def __init__(self, index: CurrentIndex, encoder: VideoEncoder, library: LibraryBrowser):
        self.index = index
        self.encoder = encoder
        self.library = library

    def frames_per_clip(self) -> int:
        reader = self.index.reader
        return reader.manifest.frames if reader is not None else DEFAULT_FRAMES

    def file(
        self,
        path: Path,
        labels: list[str],
        template: str,
        start: float = 0.0,
        end: float | None = None,
        views: tuple[int, int] = (1, 1),
    ) -> Ranking:
        """Decodes ``path`` (raises indexer.errors.DecodeError when it is no video) and classifies it, over ``views``
        (spatial crops, temporal views: :mod:`models.views`); three crops are cut from frames decoded at the crop
        size, as the reference's ThreeCrop resizes to it."""
        preprocess = self.encoder.preprocess
        crops, temporal = views
        short_side = decode_short_side(preprocess.crop if crops > 1 else preprocess.resize)
        resample = decode_resampling(preprocess.interpolation)
        clip = read_clip(str(path), self.frames_per_clip(), short_side, start, end, resample=resample, views=temporal)
        if views == (1, 1):
            return self.encoder.classify(clip, labels, template)
        return classify_views(self.encoder, clip, labels, template, crops)

    def segment(self, segment_id: int, labels: list[str], template: str) -> Ranking:
        vector = self.index.require().segment_vector(segment_id)
        if vector is None:
            raise NotFoundError(f"no segment {segment_id} in the index")
        return self.encoder.classify_vector(vector, labels, template)

    def video(self, video_id: int, labels: list[str], template: str) -> Ranking:
        reader = self.index.require()
        record = reader.video_record(video_id)
        if record is not None and record.indexed and record.kind == PHOTO_KIND:
            # A photo is its one segment, whose vector is the picture's own: nothing to decode again.
            return self.segment(reader.video_segments(video_id)[0].segment_id, labels, template)
        with self.library.video_file(video_id) as checked:  # the file /videos would serve, never one swapped in since
            return self.file(checked.path, labels, template, 0.0, checked.video.duration)

    # -- the action timeline
    def segment_rule(self, segment_seconds: float | None = None) -> SegmentRule:
        """How a file's timeline is cut: fixed windows of ``segment_seconds`` when given, else as the index cut its
        videos, else as a build cuts them by default (shots)."""
        if segment_seconds is not None:
            return SegmentRule("fixed", segment_seconds)
        reader = self.index.reader
        return recorded_rule(reader.manifest) if reader is not None else SegmentRule()

    def file_timeline(
        self, path: Path, labels: list[str], template: str, segment_seconds: float | None = None
    ) -> list[TimelineRun]:
        """Cut ``path`` into segments as a build does (:meth:`segment_rule`), embed each one's TSN frames as the
        index does, in batches, and merge the rankings into runs (raises DecodeError)."""
        segments, vectors = self._embedded_segments(path, self.segment_rule(segment_seconds))
        rankings = rank_vectors(self.encoder, vectors, labels, template)
        return merge_runs([(s.start, s.end) for s in segments], rankings)

    def video_timeline(self, video_id: int, labels: list[str], template: str) -> list[TimelineRun]:
        """An indexed video's timeline from its stored segment vectors, in time order: nothing is decoded."""
        reader = self.index.require()
        segments = reader.video_segments(video_id)
        if not segments:
            raise NotFoundError(f"no indexed video {video_id}")
        vectors = []
        for segment in segments:
            vector = reader.segment_vector(segment.segment_id)
            if vector is None:  # a catalog row without its vector: an index no build writes
                raise NotFoundError(f"segment {segment.segment_id} of video {video_id} has no vector in the index")
            vectors.append(vector)
        rankings = rank_vectors(self.encoder, vectors, labels, template)
        return merge_runs([(s.start, s.end) for s in segments], rankings)

    def _embedded_segments(self, path: Path, rule: SegmentRule) -> tuple[list[Segment], list[np.ndarray]]:
        """``path``'s segments under ``rule`` and their vectors; cut again over the stream's real length where it
        ends before its header says (as a build re-plans), at most ``TIMELINE_REPLANS`` times."""
        info, segments = segment_video(path, probe_video(TIMELINE_DECODER, str(path)), rule)
        tolerance = max(0.5, 2.0 / max(info.fps, 1.0))
        for _ in range(TIMELINE_REPLANS + 1):
            if not segments:
                raise DecodeError(f"{path.name} is too short to cut into segments")
            vectors, end = self._embed(path, segments)
            if len(vectors) == len(segments) and (end is None or segments[-1].end - end <= tolerance):
                if end is not None and segments[-1].end > end:
                    segments[-1] = Segment(segments[-1].start, round(end, 6))
                return segments, vectors
            segments = resegment(rule, segments, end)
        raise DecodeError(f"{path.name}: the stream's length changes each time it is read")

    def _embed(self, path: Path, segments: list[Segment]) -> tuple[list[np.ndarray], float | None]:
        """The vectors of ``segments``, chunk by chunk, and where the stream ended when it ended early (then the
        vectors stop at that chunk: the caller plans again)."""
        preprocess = self.encoder.preprocess
        short_side = decode_short_side(preprocess.resize)
        resample = decode_resampling(preprocess.interpolation)
        vectors: list[np.ndarray] = []
        for chunk in chunk_indexes(len(segments), TIMELINE_CHUNK):
            part = [segments[i] for i in chunk]
            decoded = decode_segments(
                TIMELINE_DECODER, str(path), part, self.frames_per_clip(), short_side, posters=False, resample=resample
            )
            vectors.extend(self.encoder.encode_videos(decoded.clips))
            if decoded.end_time is not None:
                return vectors, decoded.end_time
        return vectors, None
