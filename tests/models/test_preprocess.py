"""Preprocess against the ViFi-CLIP reference's test pipeline (cv2 INTER_LINEAR resize to mmcv's size, crops at its
offsets, its normalisation) and, for open_clip weights, against today's torchvision transform."""

import cv2
import numpy as np
import pytest
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from models.preprocess import OPENCV_BILINEAR, Preprocess, mmcv_rescaled_size, three_crop_offsets

# The reference's img_norm_cfg (datasets/build.py): ImageNet statistics on the 0..255 scale.
REF_MEAN = np.array([123.675, 116.28, 103.53])
REF_STD = np.array([58.395, 57.12, 57.375])
VIFI = Preprocess(256, 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), OPENCV_BILINEAR)
SIZES = [(240, 320), (1080, 1920), (360, 640), (640, 360), (256, 341)]  # (h, w): the last is already at 256


def frames(h, w, n=2, seed=0):
    return np.random.default_rng(seed + h * w).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def reference_pixels(frame, short_side=256, crop=224):
    """mmaction's Resize(scale=(-1, short_side)) then CenterCrop(crop), on one uint8 frame."""
    h, w = frame.shape[:2]
    scale = short_side / min(h, w)
    new_w, new_h = int(w * scale + 0.5), int(h * scale + 0.5)
    resized = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    left, top = (new_w - crop) // 2, (new_h - crop) // 2
    return resized[top : top + crop, left : left + crop]


@pytest.mark.parametrize("h, w", SIZES)
def test_vificlip_pixels_match_opencv_reference_to_one_step(h, w):
    clip = frames(h, w)
    got = VIFI.crop_views(clip, 1)[0].numpy().astype(int)
    ref = np.stack([reference_pixels(f) for f in clip]).astype(int)
    assert got.shape == ref.shape == (2, 224, 224, 3)
    assert np.abs(got - ref).max() <= 1
    if min(h, w) == 256:  # decoded at the model's size already: only the crop, exactly
        assert np.array_equal(got, ref)
    # a shifted crop would differ by far more than rounding: most pixels agree exactly
    assert (got == ref).mean() > 0.8


@pytest.mark.parametrize("h, w", SIZES)
def test_vificlip_model_input_matches_reference_normalisation(h, w):
    clip = frames(h, w, n=1)
    got = VIFI(clip)[0].permute(1, 2, 0).numpy()  # [224, 224, 3]
    ref = (reference_pixels(clip[0]) - REF_MEAN) / REF_STD
    assert got.shape == ref.shape
    assert (np.abs(got - ref) <= 1 / REF_STD + 1e-5).all()


def test_mmcv_target_size_rounds_half_up_and_keeps_the_short_side():
    assert mmcv_rescaled_size(240, 320, 256) == (256, 341)  # 341.33
    assert mmcv_rescaled_size(1080, 1920, 256) == (256, 455)  # 455.11
    assert mmcv_rescaled_size(1080, 1920, 224) == (224, 398)  # 398.22
    assert mmcv_rescaled_size(202, 360, 256) == (256, 456)  # 456.24
    assert mmcv_rescaled_size(100, 150, 256) == (256, 384)
    assert mmcv_rescaled_size(200, 301, 100) == (100, 151)  # 150.5 rounds up


def test_vificlip_crop_floors_the_offset_on_widescreen_frames():
    # 455 - 224 = 231: the reference starts at 115; torchvision's centre crop would start at 116
    clip = np.zeros((1, 256, 455, 3), np.uint8)
    clip[0, :, 115] = 255  # a bright first column of the reference's crop
    assert (VIFI.crop_views(clip, 1)[0, 0, :, 0] == 255).all()
    assert VIFI.crop_views(clip, 1)[0, 0, :, 1:].max() == 0


@pytest.mark.parametrize("h, w", [(150, 260), (300, 400), (1080, 1920), (64, 64), (90, 64)])
def test_open_clip_mode_is_todays_transform_bit_for_bit(h, w):
    pre = Preprocess(64, 64, (0.48, 0.45, 0.40), (0.26, 0.26, 0.27), "bicubic")
    clip = frames(h, w)
    x = torch.from_numpy(clip).permute(0, 3, 1, 2)
    if min(h, w) != 64:
        x = TF.resize(x, [64], interpolation=InterpolationMode.BICUBIC, antialias=True)
    x = TF.center_crop(x, [64, 64]).float().div_(255.0)
    expected = TF.normalize(x, [0.48, 0.45, 0.40], [0.26, 0.26, 0.27])
    assert torch.equal(pre(clip), expected)


def test_opencv_bilinear_round_trips_through_to_dict_and_a_checkpoint(tiny_encoder, tmp_path):
    """The manifest stores Preprocess.to_dict; load_encoder builds the encoder's Preprocess from a checkpoint's."""
    from models import load_encoder
    from models.checkpoints import save_checkpoint

    tiny = Preprocess(72, 64, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), OPENCV_BILINEAR)
    assert tiny.to_dict()["interpolation"] == OPENCV_BILINEAR
    save_checkpoint(tmp_path / "vifi.safetensors", tiny_encoder.model, preprocess=tiny.to_dict())
    loaded = load_encoder("vidseek-tiny", str(tmp_path / "vifi.safetensors"), "cpu")
    assert loaded.preprocess == tiny and loaded.preprocess.to_dict() == tiny.to_dict()


def test_three_crop_offsets_are_the_references():
    # ThreeCrop on a frame resized to short side 224: left, right, middle, step (long - 224) // 2
    assert three_crop_offsets(224, 398, 224) == [(0, 0), (174, 0), (87, 0)]  # 1920x1080
    assert three_crop_offsets(224, 299, 224) == [(0, 0), (74, 0), (37, 0)]  # odd difference 75: floored
    assert three_crop_offsets(398, 224, 224) == [(0, 0), (0, 174), (0, 87)]  # portrait: top, bottom, middle
    assert three_crop_offsets(224, 224, 224) == [(0, 0)] * 3
    with pytest.raises(ValueError, match="short side 224"):
        three_crop_offsets(256, 455, 224)


@pytest.mark.parametrize("h, w", [(1080, 1920), (360, 640), (640, 360), (224, 300)])
def test_three_crops_match_the_reference_boxes(h, w):
    clip = frames(h, w, n=1)
    views = VIFI.crop_views(clip, 3).numpy().astype(int)  # [3, 1, 224, 224, 3]
    scale = 224 / min(h, w)
    new_w, new_h = int(w * scale + 0.5), int(h * scale + 0.5)
    resized = cv2.resize(clip[0], (new_w, new_h), interpolation=cv2.INTER_LINEAR).astype(int)
    long_step = (max(new_w, new_h) - 224) // 2
    boxes = [(0, 0), (2 * long_step, 0), (long_step, 0)] if new_h == 224 else [(0, 0), (0, 2 * long_step), (0, long_step)]
    assert views.shape == (3, 1, 224, 224, 3)
    for view, (left, top) in zip(views, boxes):
        assert np.abs(view[0] - resized[top : top + 224, left : left + 224]).max() <= 1


def test_one_crop_view_is_the_model_input_and_other_counts_are_refused():
    clip = frames(240, 320)
    assert torch.equal(VIFI.normalize(VIFI.crop_views(clip, 1)[0]), VIFI(clip))
    with pytest.raises(ValueError, match="spatial crops"):
        VIFI.crop_views(clip, 4)


def test_the_two_mmcv_size_rules_and_names_agree():
    """The decode workers (torch- and models-free) keep their own copy of mmcv's size rule and of the interpolation's
    name: the frames they resize must be the size Preprocess would resize them to."""
    from indexer.decoders import resample
    from models.preprocess import OPENCV_BILINEAR, mmcv_rescaled_size

    assert resample.OPENCV_BILINEAR == OPENCV_BILINEAR
    for width, height in [(320, 240), (1920, 1080), (640, 360), (360, 640), (513, 512), (301, 200), (101, 57)]:
        for short_side in (224, 256, 64):
            assert resample.mmcv_size(width, height, short_side) == mmcv_rescaled_size(height, width, short_side)[::-1]
