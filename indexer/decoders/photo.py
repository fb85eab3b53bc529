"""Pictures: one decoded and scaled as the index scales frames (:func:`image_frame`: a picture to search by, and every
indexed photo), and the ``photo`` backend (:class:`PhotoDecoder`), which reads a library's photos as one-frame clips
through that same function, so that an indexed photo and a search by the same picture meet at the same vector.

HEIC/HEIF pictures are read when ``pillow_heif`` is installed (:data:`HEIF_EXTENSIONS`): importing this module
registers its Pillow opener, in every process that decodes (decode workers are spawned and import it afresh).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from indexer.decoders.base import (
    PHOTO_DECODER,
    Frames,
    VideoInfo,
    failure_reason,
    looks_like_text,
    read_head,
    scaled_size,
)
from indexer.decoders.resample import OPENCV_BILINEAR, SWSCALE, mmcv_size, opencv_bilinear
from indexer.errors import MAX_ASPECT_RATIO, DecodeError, FrameSizeError, NotAnImageError, NotMediaError

MAX_IMAGE_PIXELS = 64_000_000  # a decompression bomb is refused before it is decoded
EXIF_ORIENTATION = 0x0112
TRANSPOSED = {5, 6, 7, 8}  # EXIF orientations shown turned by 90 degrees: width and height swap


def register_heif() -> frozenset[str]:
    """The endings of HEIC/HEIF pictures when ``pillow_heif`` is importable (its Pillow opener is registered then),
    else none."""
    try:
        import pillow_heif
    except ImportError:
        return frozenset()
    pillow_heif.register_heif_opener()
    return frozenset({".heic", ".heif"})


HEIF_EXTENSIONS = register_heif()


def image_frame(data: bytes, short_side: int, resample: str = SWSCALE) -> np.ndarray:
    """A picture (an upload to search by) as a one-frame clip [1, H, W, 3] uint8, its short side scaled to
    ``short_side`` the way indexed frames are (:func:`~indexer.decoders.scaled_size`, which bounds the scaled size),
    so a picture and a clip of it land near each other: PIL's bicubic for ``swscale``, the decoders' own OpenCV
    bilinear (at mmcv's size) for ``opencv-bilinear``. Raises :class:`NotAnImageError`."""
    try:
        image = _decoded_image(data, short_side, draft=resample != OPENCV_BILINEAR)
        size = scaled_size(image.width, image.height, short_side)  # after JPEG draft and EXIF rotation
    except FrameSizeError as exc:
        raise NotAnImageError(
            f"the image is {exc.width}x{exc.height} pixels, too elongated to search by: "
            f"at most {MAX_ASPECT_RATIO:g}:1 (long side to short side) is accepted"
        ) from None
    if resample == OPENCV_BILINEAR:
        return opencv_bilinear(np.asarray(image, dtype=np.uint8), *mmcv_size(image.width, image.height, short_side))[None]
    image = image.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)
    return np.array(image, dtype=np.uint8)[None]  # a writable copy: torch wants one


def _decoded_image(data: bytes, short_side: int, draft: bool = True) -> Image.Image:
    """The picture decoded to RGB, after its header passed the pixel cap and the aspect-ratio bound; with ``draft``,
    a JPEG at a reduced size where it can (not for OpenCV's resize, which the reference runs on the full picture)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            pixels = image.width * image.height
            if 0 < pixels <= MAX_IMAGE_PIXELS:
                scaled_size(image.width, image.height, short_side)  # a 1x60000 strip is refused from its header
                if draft:
                    image.draft("RGB", (short_side, short_side))  # JPEG: decode at a reduced size when it can
                image = ImageOps.exif_transpose(image).convert("RGB")  # an animation gives its first frame
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        pixels = MAX_IMAGE_PIXELS + 1
    except UnidentifiedImageError:
        raise NotAnImageError("not an image: send a PNG, JPEG, WebP, GIF or BMP picture") from None
    except (OSError, SyntaxError, ValueError) as exc:  # a known format, but damaged or truncated
        raise NotAnImageError(f"the image could not be decoded: {exc}") from None
    if not 0 < pixels <= MAX_IMAGE_PIXELS:
        raise NotAnImageError(too_many_pixels(pixels))
    return image


def too_many_pixels(pixels: int) -> str:
    return f"the image has {pixels:,} pixels: at most {MAX_IMAGE_PIXELS:,} are accepted"


class PhotoDecoder:
    """A library's photos as one-frame clips: :meth:`probe` reads the header (a still: no duration, no frame rate),
    :meth:`read` gives the picture exactly as :func:`image_frame` scales a picture searched by (EXIF-rotated, RGB,
    the same bounds and resampling), once per instant asked. Never spot-checked against PyAV: FFmpeg is not the
    reference for pictures, Pillow is."""

    name = PHOTO_DECODER

    def probe(self, path: Path) -> VideoInfo:
        """The picture's format and its size as shown (after EXIF rotation), from its header; the pixel cap and the
        aspect-ratio bound are checked here, so such a picture fails before it is decoded."""
        if looks_like_text(read_head(path)):
            raise NotMediaError("not a picture: the file holds text")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(path) as image:
                    codec = (image.format or "unknown").lower()
                    width, height = image.size
                    if image.getexif().get(EXIF_ORIENTATION) in TRANSPOSED:
                        width, height = height, width
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise DecodeError(too_many_pixels(MAX_IMAGE_PIXELS + 1)) from None
        except UnidentifiedImageError:
            raise DecodeError("not a picture Pillow can read (JPEG, PNG, WebP...): damaged, or misnamed") from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise DecodeError(f"the picture's header could not be read: {failure_reason(exc)}") from None
        if not 0 < width * height <= MAX_IMAGE_PIXELS:
            raise DecodeError(too_many_pixels(width * height))
        scaled_size(width, height, 1)  # FrameSizeError (a DecodeError) for a picture too elongated to scale
        return VideoInfo(duration=0.0, fps=0.0, width=width, height=height, codec=codec, still=True)

    def read(self, path: Path, times: Sequence[float], short_side: int, resample: str = SWSCALE) -> Frames:
        try:
            frame = image_frame(path.read_bytes(), short_side, resample)
        except OSError as exc:
            raise DecodeError(f"cannot read the picture: {failure_reason(exc)}") from exc
        except NotAnImageError as exc:  # damaged or truncated: reported as a failed file, with the reason
            raise DecodeError(str(exc)) from None
        images = np.repeat(frame, len(times), axis=0)
        return Frames(images=images, times=[0.0] * len(times), end_time=None)
