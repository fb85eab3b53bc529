import pytest

from indexer.segment import Segment, plan_segments, sample_frame_times


def test_short_video_is_one_segment():
    assert plan_segments(3.2, 10) == [Segment(0, 3.2)]


def test_long_video_is_split_into_consecutive_segments():
    segments = plan_segments(25.0, 10)
    assert segments == [Segment(0, 10), Segment(10, 20), Segment(20, 25.0)]
    assert all(a.end == b.start for a, b in zip(segments, segments[1:]))


def test_a_sliver_at_the_end_joins_the_previous_segment():
    assert plan_segments(20.4, 10) == [Segment(0, 10), Segment(10, 20.4)]
    assert plan_segments(20.0, 10) == [Segment(0, 10), Segment(10, 20.0)]


@pytest.mark.parametrize("duration", [0, -1, float("nan"), float("inf")])
def test_no_segments_for_unusable_durations(duration):
    assert plan_segments(duration, 10) == []


def test_tsn_sampling_takes_the_middle_of_each_subsegment():
    assert sample_frame_times(0, 8, 4) == [1.0, 3.0, 5.0, 7.0]
    assert sample_frame_times(10, 20, 1) == [15.0]
    times = sample_frame_times(2.0, 5.0, 8)
    assert len(times) == 8 and 2.0 < times[0] < times[-1] < 5.0


def test_sampling_rejects_bad_arguments():
    with pytest.raises(ValueError):
        sample_frame_times(0, 1, 0)
    with pytest.raises(ValueError):
        sample_frame_times(2, 1, 4)
