"""The model's own image preprocessing, done on batches of uint8 frames.

open_clip's transform works on one PIL image at a time; here the same steps (resize the short side,
centre crop, scale to [0, 1], normalise) run on a whole [N, H, W, 3] uint8 batch as tensors. ViFi-CLIP's
weights get the reference's own test pipeline instead ("opencv-bilinear"), and :meth:`Preprocess.crop_views`
gives its three-crop views.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

# The ViFi-CLIP reference's resize: mmcv.imresize, i.e. cv2.resize INTER_LINEAR (no antialiasing, uint8 out).
OPENCV_BILINEAR = "opencv-bilinear"
SPATIAL_CROPS = (1, 3)  # the reference's TEST.NUM_CROP: a centre crop, or ThreeCrop


def mmcv_rescaled_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(h, w) after mmcv's keep-ratio rescale to ``short_side``: each side times the scale, rounded half up. The decode
    workers' twin is ``indexer.decoders.resample.mmcv_size`` ((w, h), torch- and models-free); a test holds them equal."""
    scale = short_side / min(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def opencv_bilinear_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 [N, 3, H, W] -> uint8 [N, 3, *size] as cv2's INTER_LINEAR computes it (half-pixel centres, two taps
    per axis even when shrinking), to within its fixed-point rounding: one uint8 step."""
    y = F.interpolate(x.float(), size=size, mode="bilinear", align_corners=False, antialias=False)
    return y.round_().clamp_(0, 255).to(torch.uint8)


def three_crop_offsets(height: int, width: int, crop: int) -> list[tuple[int, int]]:
    """(left, top) of the reference's ThreeCrop on a frame whose short side is ``crop``: along the long side the
    start, the end and the middle (that order), the step floored; a square frame gives one box thrice."""
    if min(height, width) != crop:
        raise ValueError(f"three crops need a frame with short side {crop}, got {height}x{width}")
    if height == crop:
        step = (width - crop) // 2
        return [(0, 0), (2 * step, 0), (step, 0)]
    step = (height - crop) // 2
    return [(0, 0), (0, 2 * step), (0, step)]


@dataclass(frozen=True)
class Preprocess:
    """How frames become model input: short side -> ``resize``, centre crop ``crop``, normalise."""

    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"  # a torchvision InterpolationMode (open_clip's transform) or OPENCV_BILINEAR

    @classmethod
    def from_open_clip(cls, preprocess_cfg: dict, resize: int | None = None) -> "Preprocess":
        size = preprocess_cfg["size"]
        crop = size[0] if isinstance(size, (tuple, list)) else int(size)
        return cls(
            resize=int(resize or crop),
            crop=int(crop),
            mean=tuple(float(m) for m in preprocess_cfg["mean"]),
            std=tuple(float(s) for s in preprocess_cfg["std"]),
            interpolation=str(preprocess_cfg.get("interpolation", "bicubic")),
        )

    def to_dict(self) -> dict:
        """JSON-ready (lists, not tuples), so a manifest read back compares equal."""
        return json.loads(json.dumps(asdict(self)))

    def __call__(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 frames [N, H, W, 3] -> float tensor [N, 3, crop, crop]."""
        return self.normalize(self.crop_views(frames, 1)[0])

    def normalize(self, crops: torch.Tensor) -> torch.Tensor:
        """uint8 crops [N, crop, crop, 3] -> the float model input [N, 3, crop, crop]."""
        x = crops.permute(0, 3, 1, 2).float().div_(255.0)
        return TF.normalize(x, list(self.mean), list(self.std))

    def crop_views(self, frames: np.ndarray | torch.Tensor, crops: int = 1) -> torch.Tensor:
        """uint8 frames [N, H, W, 3] -> uint8 crops [crops, N, crop, crop, 3], before normalisation.

        One crop: the short side resized to ``resize`` and the centre crop. Three (the reference's ThreeCrop,
        TEST.NUM_CROP 3): the short side resized to ``crop`` itself, then the three boxes of
        :func:`three_crop_offsets`.
        """
        x = torch.as_tensor(frames)
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"expected frames shaped [N, H, W, 3], got {tuple(x.shape)}")
        if crops not in SPATIAL_CROPS:
            raise ValueError(f"spatial crops must be one of {SPATIAL_CROPS}, not {crops}")
        x = x.permute(0, 3, 1, 2)
        if crops == 1:
            views = [self._centre_crop(self._resize(x, self.resize))]
        else:
            x = self._resize(x, self.crop)
            c = self.crop
            views = [x[..., top : top + c, left : left + c] for left, top in three_crop_offsets(*x.shape[-2:], c)]
        return torch.stack(views).permute(0, 1, 3, 4, 2)

    def _resize(self, x: torch.Tensor, short_side: int) -> torch.Tensor:
        if min(x.shape[-2:]) == short_side:
            return x
        if self.interpolation == OPENCV_BILINEAR:
            return opencv_bilinear_resize(x, mmcv_rescaled_size(*x.shape[-2:], short_side))
        return TF.resize(x, [short_side], interpolation=InterpolationMode(self.interpolation), antialias=True)

    def _centre_crop(self, x: torch.Tensor) -> torch.Tensor:
        if self.interpolation == OPENCV_BILINEAR:  # the reference's CenterCrop floors both offsets
            top, left = (x.shape[-2] - self.crop) // 2, (x.shape[-1] - self.crop) // 2
            return x[..., top : top + self.crop, left : left + self.crop]
        return TF.center_crop(x, [self.crop, self.crop])  # torchvision rounds them, as open_clip's transform does
