"""The reference decoder's probe over every container the scan indexes (tests/formats.py): the length and frame rate
a build plans segments by. MPEG-PS/TS streams' own durations are FFmpeg's bit-rate estimates (a 6 s MPEG-PS clip's
video "lasts" 5.64 s), and DV declares its time base as its average frame rate (60000 fps)."""

from __future__ import annotations

import pytest

from indexer.decoders import get_decoder
from indexer.decoders.base import frame_rate
from tests.formats import SAMPLES, write_sample

VIDEOS = sorted(name for name, sample in SAMPLES.items() if sample.kind == "video")


@pytest.mark.parametrize("name", VIDEOS)
def test_the_probe_reads_each_container_s_length_and_rate(name, tmp_path):
    path = write_sample(tmp_path, name, seconds=4.0)
    info = get_decoder("pyav").probe(path)
    assert info.fps == pytest.approx(25.0)
    assert info.duration == pytest.approx(4.0, abs=0.08)  # within two frames of what was written


def test_a_time_base_declared_as_a_frame_rate_is_not_one():
    assert frame_rate(60000, 25) == 25.0
    assert frame_rate(None, 0, 29.97) == 29.97
    assert frame_rate(None, None) == 25.0  # DEFAULT_FPS
