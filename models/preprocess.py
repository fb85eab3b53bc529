"""The model's own image preprocessing, done on batches of uint8 frames.

open_clip's transform works on one PIL image at a time; here the same steps (resize the short side,
centre crop, scale to [0, 1], normalise) run on a whole [N, H, W, 3] uint8 batch as tensors.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF


@dataclass(frozen=True)
class Preprocess:
    """How frames become model input: short side -> ``resize``, centre crop ``crop``, normalise."""

    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"

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
        x = torch.as_tensor(frames)
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"expected frames shaped [N, H, W, 3], got {tuple(x.shape)}")
        x = x.permute(0, 3, 1, 2)
        if min(x.shape[-2:]) != self.resize:
            x = TF.resize(x, [self.resize], interpolation=InterpolationMode(self.interpolation), antialias=True)
        x = TF.center_crop(x, [self.crop, self.crop])
        x = x.float().div_(255.0)
        return TF.normalize(x, list(self.mean), list(self.std))
