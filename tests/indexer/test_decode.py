import pytest

from indexer.decoders import get_decoder, scaled_size
from indexer.errors import DecodeError
from tests.videos import make_corrupt, make_video, read_frame_number

FPS = 10


@pytest.fixture(scope="module")
def numbered(tmp_path_factory):
    # 30 s with a keyframe every 8 s: reading far-apart instants needs seeks, not one per frame.
    return make_video(tmp_path_factory.mktemp("dec") / "numbered.mp4", 30, fps=FPS, gop=80, size=(320, 180))


def test_probe_reads_duration_fps_and_size(numbered):
    info = get_decoder("pyav").probe(numbered)
    assert info.duration == pytest.approx(30, abs=0.2)
    assert info.fps == pytest.approx(FPS)
    assert (info.width, info.height) == (320, 180)


@pytest.mark.parametrize("times", [[0.05, 1.0, 2.55, 9.9], [29.5, 0.0, 15.2, 3.3, 22.0], [5.0, 5.0, 5.04]])
def test_frames_at_instants_are_the_right_frames(numbered, times):
    frames = get_decoder("pyav").read(numbered, times, short_side=96)
    assert frames.images.shape == (len(times), 96, 171, 3)
    assert frames.end_time is None
    for image, t, chosen in zip(frames.images, times, frames.times):
        assert read_frame_number(image) == round(chosen * FPS)
        assert chosen <= t + 1e-6 < chosen + 1 / FPS  # the frame shown at the instant (pts <= t < next pts)


def test_instants_past_the_end_report_the_real_end(numbered):
    frames = get_decoder("pyav").read(numbered, [10.0, 45.0], short_side=64)
    assert frames.end_time == pytest.approx(30.0, abs=0.15)
    assert read_frame_number(frames.images[1]) == 299


def test_not_a_video_raises_decode_error(tmp_path):
    with pytest.raises(DecodeError):
        get_decoder("pyav").probe(make_corrupt(tmp_path / "x.mp4"))


def test_truncated_file_raises_decode_error(tmp_path, numbered):
    with pytest.raises(DecodeError):
        get_decoder("pyav").probe(make_corrupt(tmp_path / "cut.mp4", source=numbered))


def test_unknown_decoder():
    with pytest.raises(ValueError, match="unknown decoder"):
        get_decoder("nope")


def test_scaled_size_keeps_aspect():
    assert scaled_size(1920, 1080, 224) == (398, 224)
    assert scaled_size(480, 640, 224) == (224, 299)


@pytest.mark.parametrize("times", [[0.05, 7.0, 9.0, 29.5], [22.0, 3.9, 4.1, 15.2]])
def test_fast_seek_takes_the_nearest_keyframe(numbered, times):
    """Keyframes every 8 s (frames 0, 80, 160, 240): each instant gets the nearest one, really decoded."""
    frames = get_decoder("pyav-keyframes").read(numbered, times, short_side=96)
    assert frames.images.shape == (len(times), 96, 171, 3)
    for image, t, chosen in zip(frames.images, times, frames.times):
        keyframe = min((0.0, 8.0, 16.0, 24.0), key=lambda k: (abs(k - t), k))
        assert chosen == pytest.approx(keyframe) and read_frame_number(image) == round(keyframe * FPS)
    assert not type(get_decoder("pyav-keyframes")).__name__.startswith("Verified")  # differs from PyAV on purpose
