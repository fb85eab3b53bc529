"""The format samples (tests/formats.py) are what they claim: other tests rely on these facts, so they are probed here
with PyAV (container, codecs, pixel format, size, duration, frames) and their pixels checked (colour, moving square)."""

from __future__ import annotations

import itertools

import av
import numpy as np
import pytest
from PIL import Image

from tests.formats import SAMPLES, varied_colour, write_library, write_mixed_library, write_sample

SECONDS = 3.0
SIZE = (320, 240)  # write_sample's default
FPS = 25
VIDEOS = [name for name, sample in SAMPLES.items() if sample.kind == "video"]
NATIVE = {("mp4", "h264"), ("webm", "vp9")}  # what every browser plays (with yuv420p)


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    return write_library(tmp_path_factory.mktemp("formats"), seconds=SECONDS)


def probe(path):
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0].codec_context.codec.canonical_name if container.streams.audio else None
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video)]
        return {
            "formats": container.format.name.split(","),
            "codec": video.codec_context.codec.canonical_name,
            "pix_fmt": video.codec_context.format.name,
            "size": (video.codec_context.width, video.codec_context.height),
            "duration": container.duration / av.time_base,
            "audio": audio,
            "frames": frames,
        }


def corner_colours(image: np.ndarray) -> list[np.ndarray]:
    height, width = image.shape[:2]
    return [image[y : y + 8, x : x + 8].reshape(-1, 3).mean(axis=0) for y in (2, height - 10) for x in (2, width - 10)]


def square_centre_x(image: np.ndarray) -> float:
    """Where the white square is, as a share of the width."""
    _, xs = np.nonzero(image.min(axis=2) > 230)
    assert len(xs), "no white square in the frame"
    return xs.mean() / image.shape[1]


def test_every_format_is_sampled():
    assert {"mpeg4.avi", "mpeg2.mpg", "hevc.mkv", "camcorder.mts", "h264.mp4", "vp9.webm", "photo.jpg"} <= set(SAMPLES)
    assert {"wmv.wmv", "mjpeg.avi", "dv.dv", "old.flv"} <= set(SAMPLES)


@pytest.mark.parametrize("name", VIDEOS)
def test_video_sample_is_what_it_claims(samples, name):
    sample, facts = SAMPLES[name], probe(samples[name])
    assert sample.container in facts["formats"]
    assert facts["codec"] == sample.codec
    assert facts["pix_fmt"] == sample.pix_fmt
    assert facts["size"] == (sample.fixed_size or SIZE)
    assert facts["duration"] == pytest.approx(SECONDS, abs=0.2)
    assert len(facts["frames"]) == round(SECONDS * (sample.fixed_fps or FPS))
    assert facts["audio"] == sample.audio
    plays_natively = (sample.container, sample.codec) in NATIVE and sample.pix_fmt == "yuv420p"
    assert sample.needs_preview is not plays_natively


@pytest.mark.parametrize("name", VIDEOS)
def test_video_sample_shows_its_colour_and_a_moving_square(samples, name):
    frames = probe(samples[name])["frames"]
    first, last = frames[0], frames[-1]
    for image in (first, last):
        for corner in corner_colours(image):
            np.testing.assert_allclose(corner, SAMPLES[name].colour, atol=12)
    assert square_centre_x(first) < 0.2 and square_centre_x(last) > 0.8


def test_photo_opens_with_pil_and_shows_its_colour(samples):
    sample = SAMPLES["photo.jpg"]
    with Image.open(samples["photo.jpg"]) as image:
        assert (image.format, image.size, sample.kind, sample.needs_preview) == ("JPEG", SIZE, "photo", False)
        pixels = np.asarray(image.convert("RGB"))
    for corner in corner_colours(pixels):
        np.testing.assert_allclose(corner, sample.colour, atol=12)


def test_sample_colours_are_far_apart():
    for a, b in itertools.combinations(SAMPLES.values(), 2):
        assert np.abs(np.subtract(a.colour, b.colour)).sum() >= 90, (a.name, b.name)


def test_write_sample_without_audio_and_in_another_colour(tmp_path):
    path = write_sample(tmp_path, "hevc.mkv", seconds=1.0, size=(160, 96), audio=False, colour=(250, 250, 20))
    facts = probe(path)
    assert facts["audio"] is None and facts["size"] == (160, 96)
    np.testing.assert_allclose(corner_colours(facts["frames"][0])[0], (250, 250, 20), atol=12)


def test_dv_keeps_its_standard_size_whatever_is_asked(tmp_path):
    facts = probe(write_sample(tmp_path, "dv.dv", seconds=0.4, size=(640, 360), fps=30))
    assert facts["size"] == (720, 576) and len(facts["frames"]) == 10


def test_unknown_sample_is_refused_with_the_names(tmp_path):
    with pytest.raises(KeyError, match="h264.mp4"):
        write_sample(tmp_path, "nope.mov")


def test_mixed_library_is_half_native_half_needing_previews(tmp_path):
    paths = write_mixed_library(tmp_path, files=6, seconds=1.0, size=(160, 96))
    facts = [probe(path) for path in paths]
    assert [f["codec"] for f in facts] == ["h264", "mpeg4", "h264", "mpeg2video", "h264", "hevc"]
    assert [p.suffix for p in paths] == [".mp4", ".avi", ".mp4", ".mpg", ".mp4", ".mkv"]
    assert all(f["audio"] and f["size"] == (160, 96) for f in facts)
    backgrounds = []
    for index, frame in enumerate(f["frames"][0] for f in facts):
        background = frame[frame.min(axis=2) < 230]  # all but the white square
        assert background.std(axis=0).mean() > 8, "a textured background, not a flat colour"
        backgrounds.append(background.mean(axis=0))
        np.testing.assert_allclose(backgrounds[-1], varied_colour(index), atol=12)
    for a, b in itertools.combinations(backgrounds, 2):
        assert np.abs(a - b).sum() >= 60
