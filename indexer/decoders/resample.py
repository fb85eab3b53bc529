"""How decoded frames are scaled: libswscale inside the decoders (``SWSCALE``, the default), or ``OPENCV_BILINEAR``,
the resize ViFi-CLIP's own pipeline does (mmcv's ``Resize``: ``cv2.resize`` with ``INTER_LINEAR`` on the full-size
RGB frame), written here in numpy so that decode workers need neither OpenCV nor torch.

OpenCV's ``INTER_LINEAR`` on uint8 is two-tap bilinear with half-pixel centres and no antialiasing, in fixed point:
each weight is rounded to 11 bits (``INTER_RESIZE_COEF_BITS``), each row is summed exactly in integers, and the two
rows are blended as its vectorised path blends them (:func:`opencv_bilinear`). That is OpenCV's output bit for bit
on the downscales measured here; on upscales and at a row's scalar tail OpenCV rounds a few pixels one step apart.
"""

from __future__ import annotations

import numpy as np

SWSCALE = "swscale"
OPENCV_BILINEAR = "opencv-bilinear"
RESAMPLINGS = (SWSCALE, OPENCV_BILINEAR)

_COEF_BITS = 11  # OpenCV's INTER_RESIZE_COEF_BITS
_COEF_SCALE = 1 << _COEF_BITS


def check_resampling(resample: str) -> str:
    if resample not in RESAMPLINGS:
        raise ValueError(f"unknown resampling {resample!r}; expected one of {', '.join(RESAMPLINGS)}")
    return resample


def mmcv_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) with the shorter side scaled to ``short_side`` as mmcv rounds it (``int(w * scale + 0.5)``,
    in its ``rescale_size``): half up, where Python's ``round`` would round half to even. Its twin for tensors is
    ``models.preprocess.mmcv_rescaled_size`` (decode workers may not import ``models``); a test holds them equal."""
    scale = short_side / min(width, height)
    return max(1, int(width * scale + 0.5)), max(1, int(height * scale + 0.5))


def opencv_bilinear(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` [H, W, C] uint8 resized to ``width`` x ``height`` as ``cv2.resize(image, (width, height),
    interpolation=cv2.INTER_LINEAR)`` does (to one uint8 step). Works on one frame at a time: the intermediate is
    ``H x width`` int32, never a batch."""
    if image.dtype != np.uint8 or image.ndim != 3:
        raise ValueError(f"expected an [H, W, C] uint8 image, got {image.dtype} {image.shape}")
    src_h, src_w = image.shape[:2]
    if (src_h, src_w) == (height, width):
        return image.copy()
    x0, x1, ax0, ax1 = _taps(src_w, width)
    y0, y1, by0, by1 = _taps(src_h, height)
    rows = np.union1d(y0, y1)  # only the source rows some output row reads
    source = image[rows].astype(np.int32)
    horizontal = source[:, x0] * ax0[:, None] + source[:, x1] * ax1[:, None]  # [rows, width, C], x 2^11
    horizontal >>= 4  # OpenCV's vector blend packs the row sums to int16 first (x 2^7: at most 32,655)
    top = (horizontal[np.searchsorted(rows, y0)] * by0[:, None, None]) >> 16  # x 2^2: the high half of each product
    bottom = (horizontal[np.searchsorted(rows, y1)] * by1[:, None, None]) >> 16
    return np.clip((top + bottom + 2) >> 2, 0, 255).astype(np.uint8)


def _taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each output position along one axis: the two source positions it reads and their 11-bit weights, as
    OpenCV computes them (a float32 source coordinate ``(d + 0.5) * src / dst - 0.5``, clamped to the edges)."""
    scale = src / dst  # OpenCV: 1 / inv_scale, in double
    f = ((np.arange(dst, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    s = np.floor(f).astype(np.int64)
    f = f - s.astype(np.float32)
    low = s < 0
    f[low], s[low] = 0.0, 0
    high = s >= src - 1
    f[high], s[high] = 0.0, src - 1
    second = np.minimum(s + 1, src - 1)
    w1 = np.rint(f * np.float32(_COEF_SCALE)).astype(np.int32)
    w0 = np.rint((np.float32(1.0) - f) * np.float32(_COEF_SCALE)).astype(np.int32)
    return s, second, w0, w1
