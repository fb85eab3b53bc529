"""The planner both runners share (indexer/pipeline/plan.py): plans, re-plans, failures and epochs, without
decoding anything."""

from pathlib import Path

import pytest

from indexer.decoders import VideoInfo
from indexer.pipeline.plan import (
    MAX_REPLANS,
    VideoJob,
    fail,
    fit_to_stream_end,
    plan,
    redo,
    replan,
    too_short,
    unstable_length,
)
from indexer.scan import LibraryFile
from indexer.segment import Segment
from indexer.segmenters import SegmentRule
from indexer.segmenters.fixed import fixed_segments

FIXED = SegmentRule("fixed", 10.0)


def job() -> VideoJob:
    return VideoJob(0, LibraryFile(Path("/lib/a.mp4"), 1, 1, "f"))


def info(duration: float) -> VideoInfo:
    return VideoInfo(duration, 10.0, 160, 96, "h264")


def test_a_plan_is_cut_into_chunks_and_drops_an_older_plans_vectors():
    video = job()
    video.vectors[0], video.posters[0] = "old", b"old"
    chunks = plan(video, info(25.0), fixed_segments(25.0, 10), chunk_segments=2)
    assert video.segments == [Segment(0, 10), Segment(10, 20), Segment(20, 25)]
    assert chunks == [[0, 1], [2]] and video.chunks_out == 2
    assert video.vectors == {} and video.posters == {} and not video.done


def test_a_video_too_short_for_a_segment_fails_with_no_chunks():
    video = job()
    assert plan(video, info(0.0), fixed_segments(0.0, 10), 8) == []
    assert video.error == too_short(0.0) and video.done


def test_a_replan_moves_the_epoch_on_until_the_length_keeps_changing():
    video = job()
    plan(video, info(40.0), fixed_segments(40.0, 10), 1)
    ends = [30.0, 20.0, 14.5]
    for real_end in ends[:MAX_REPLANS]:
        chunks = replan(video, real_end, FIXED, 1)
        assert max(s.end for s in video.segments) == real_end and len(chunks) == len(video.segments)
    assert video.epoch == MAX_REPLANS and video.info.duration == ends[MAX_REPLANS - 1] and video.error is None
    assert replan(video, ends[MAX_REPLANS], FIXED, 1) is None  # given up: no new plan
    assert video.error == unstable_length(ends[MAX_REPLANS])


def test_redo_plans_the_same_length_again_under_a_new_epoch():
    video = job()
    plan(video, info(12.0), fixed_segments(12.0, 10), 1)
    before = list(video.segments)
    assert redo(video, 1) == [[0], [1]]
    assert video.segments == before and video.epoch == 1 and video.replans == 0


def test_the_first_failure_stays_and_older_work_stops_counting():
    video = job()
    plan(video, info(12.0), fixed_segments(12.0, 10), 1)
    assert video.current(0)
    fail(video, "first")
    fail(video, "second")
    assert video.error == "first" and video.epoch == 1
    assert not video.current(0) and not video.current(1)  # a failed video takes no more work


@pytest.mark.parametrize(
    ("end", "fits", "last_end"),
    [(None, True, 20.0), (19.8, True, 19.8), (20.3, True, 20.0), (18.0, False, 20.0)],
)
def test_a_chunk_fits_within_a_frame_or_two_of_the_real_end_and_is_cut_to_it(end, fits, last_end):
    segments = [Segment(0, 10), Segment(10, 20)]
    assert fit_to_stream_end(segments, [0, 1], end, fps=10.0) is fits
    assert segments[-1].end == last_end
