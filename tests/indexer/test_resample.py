"""Decode-side resampling for ViFi-CLIP's weights: a numpy OpenCV INTER_LINEAR held to cv2.resize itself, the
decoders resizing each full-size frame with it when asked for opencv-bilinear, and libswscale unchanged otherwise."""

import io

import numpy as np
import pytest
from PIL import Image

from indexer.clips import decode_resampling, image_frame, read_clip
from indexer.decoders import get_decoder
from indexer.decoders.resample import OPENCV_BILINEAR, SWSCALE, mmcv_size, opencv_bilinear
from tests.indexer.test_decoders import backend, backend_param
from tests.videos import make_video, read_frame_number

cv2 = pytest.importorskip("cv2", reason="opencv-python-headless is a test dependency (pip install -e '.[test]')")


@pytest.mark.parametrize("size", [(320, 240), (1920, 1080), (640, 360), (360, 640), (101, 57)])
@pytest.mark.parametrize("short_side", [224, 256])
def test_numpy_resize_is_opencvs_to_one_step(size, short_side):
    image = np.random.default_rng(sum(size)).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    width, height = mmcv_size(*size, short_side)
    ours = opencv_bilinear(image, width, height)
    theirs = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    assert ours.shape == theirs.shape == (height, width, 3)
    assert np.abs(ours.astype(np.int16) - theirs.astype(np.int16)).max() <= 1


def test_mmcv_rounds_the_long_side_half_up():
    assert mmcv_size(1920, 1080, 256) == (455, 256)
    assert mmcv_size(426, 240, 256) == (454, 256)  # 454.4
    assert mmcv_size(5, 4, 2) == (3, 2)  # 2.5 -> 3, where round() gives 2


def test_only_vificlip_interpolation_asks_for_opencv():
    assert decode_resampling("opencv-bilinear") == OPENCV_BILINEAR
    assert [decode_resampling(name) for name in ("bicubic", "bilinear", "nearest")] == [SWSCALE] * 3


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("resample") / "v.mp4", 2, fps=25, size=(320, 240))


def full_size_frames(path, times):
    return get_decoder("pyav").read(path, times, 240).images  # 320x240 at short side 240: converted, not scaled


@pytest.mark.parametrize("name", [backend_param("pyav"), backend_param("decord"), backend_param("torchcodec")])
def test_exact_backends_resize_each_full_size_frame_as_opencv(name, video):
    times = [0.1, 0.9, 1.7]
    frames = backend(name).read(video, times, 256, resample=OPENCV_BILINEAR)
    assert frames.images.shape == (3, 256, 341, 3) and frames.note is None
    expected = [cv2.resize(image, (341, 256), interpolation=cv2.INTER_LINEAR) for image in full_size_frames(video, times)]
    for got, want in zip(frames.images, expected):
        assert np.abs(got.astype(np.int16) - want.astype(np.int16)).max() <= 1
    assert [read_frame_number(image) for image in frames.images] == [2, 22, 42]


def test_swscale_is_todays_path_byte_for_byte(video):
    decoder = get_decoder("pyav")
    default = decoder.read(video, [0.5, 1.5], 224)
    assert np.array_equal(decoder.read(video, [0.5, 1.5], 224, resample=SWSCALE).images, default.images)
    assert not np.array_equal(decoder.read(video, [0.5, 1.5], 224, resample=OPENCV_BILINEAR).images, default.images)


def test_the_keyframe_decoder_resizes_alike(video):
    frames = get_decoder("pyav-keyframes").read(video, [0.1], 256, resample=OPENCV_BILINEAR)
    assert frames.images.shape == (1, 256, 341, 3)


class OldPlugin:
    """A plugin decoder written before ``resample``: read(path, times, short_side)."""

    name = "old"

    def probe(self, path):
        return get_decoder("pyav").probe(path)

    def read(self, path, times, short_side):
        return get_decoder("pyav").read(path, times, short_side)


def test_a_plugin_with_the_old_read_signature_still_works(video):
    plugin = f"{__name__}:OldPlugin"
    plain = read_clip(str(video), 4, 64, decoder=plugin)
    assert np.array_equal(plain, read_clip(str(video), 4, 64))
    resized = read_clip(str(video), 4, 256, decoder=plugin, resample=OPENCV_BILINEAR)
    assert np.array_equal(resized, read_clip(str(video), 4, 256, resample=OPENCV_BILINEAR))


def test_a_picture_is_resized_as_frames_are():
    image = np.random.default_rng(3).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    frame = image_frame(buffer.getvalue(), 256, OPENCV_BILINEAR)
    want = cv2.resize(image, (341, 256), interpolation=cv2.INTER_LINEAR)
    assert frame.shape == (1, 256, 341, 3)
    assert np.abs(frame[0].astype(np.int16) - want.astype(np.int16)).max() <= 1
    assert image_frame(buffer.getvalue(), 256).shape == (1, 256, 341, 3)  # PIL's bicubic, as before
