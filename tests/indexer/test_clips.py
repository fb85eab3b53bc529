"""Clips decoded as the index decodes them: a video's TSN-sampled frames (read_clip), the decode size, and a picture
as a one-frame clip scaled like indexed frames (image_frame), with its bounds."""

import io

import numpy as np
import pytest
from PIL import Image

from indexer.clips import MAX_IMAGE_PIXELS, POSTER_SHORT_SIDE, decode_short_side, image_frame, read_clip
from indexer.errors import IndexerError, NotAnImageError
from tests.videos import make_video, read_frame_number


def picture(color=(220, 30, 30), size=(64, 48), fmt="PNG", mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, fmt)
    return buffer.getvalue()


def test_frames_are_decoded_large_enough_for_the_model_and_the_posters():
    assert POSTER_SHORT_SIDE == 224
    assert decode_short_side(224) == decode_short_side(112) == 224
    assert decode_short_side(336) == 336


def test_read_clip_samples_the_middle_of_each_subsegment(tmp_path):
    video = make_video(tmp_path / "v.mp4", 8, fps=10, size=(160, 96))
    clip = read_clip(str(video), 4, 48, start=0.0, end=8.0)
    assert clip.shape == (4, 48, 80, 3)
    assert [read_frame_number(frame) for frame in clip] == [10, 30, 50, 70]  # 1, 3, 5, 7 s


def test_read_clip_resamples_over_the_real_length_when_the_stream_ends_early(tmp_path):
    video = make_video(tmp_path / "v.mp4", 4, fps=10, size=(160, 96))
    clip = read_clip(str(video), 2, 48, end=8.0)  # the header would say 8 s; the stream has 4
    assert [read_frame_number(frame) for frame in clip] == [10, 30]


# The picture path: copied from tests/app/test_search_modes.py, where the app used to own it.


def test_image_frame_matches_how_frames_are_indexed():
    frame = image_frame(picture(size=(640, 480)), 224)
    assert frame.shape == (1, 224, 299, 3) and frame.dtype == np.uint8 and frame.flags.writeable
    assert tuple(frame[0, 100, 100]) == pytest.approx((220, 30, 30), abs=3)
    tall = image_frame(picture(size=(30, 100), mode="RGBA", color=(0, 0, 255, 0)), 224)
    assert tall.shape == (1, 747, 224, 3)  # small pictures are scaled up, alpha dropped


def test_image_frame_follows_exif_orientation():
    image = Image.new("RGB", (80, 40), (0, 0, 0))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° on display
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    assert image_frame(buffer.getvalue(), 224).shape == (1, 448, 224, 3)  # shown portrait


def test_image_frame_refuses_decompression_bombs():
    side = int(MAX_IMAGE_PIXELS**0.5) + 100
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, "PNG")  # tiny file, huge picture
    with pytest.raises(NotAnImageError, match="pixels"):
        image_frame(buffer.getvalue(), 224)
    with pytest.raises(NotAnImageError):
        image_frame(b"GIF89a broken", 224)


@pytest.mark.parametrize("size", [(1000, 1), (1, 1000), (60000, 1), (352, 32)])
def test_image_frame_refuses_elongated_pictures_by_the_decoders_bound(size):
    with pytest.raises(NotAnImageError, match=rf"{size[0]}x{size[1]} pixels, too elongated to search by"):
        image_frame(picture(size=size), 224)
    assert image_frame(picture(size=(320, 32)), 224).shape == (1, 224, 2240, 3)  # 10:1 is accepted


def test_not_an_image_is_an_indexer_error_and_a_value_error():
    with pytest.raises(NotAnImageError, match="not an image") as raised:
        image_frame(b"\x89PNG not really", 224)
    assert isinstance(raised.value, IndexerError) and isinstance(raised.value, ValueError)
