"""Small real video files for tests, written with PyAV (H.264), each frame carrying its own number."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

STRIPES = 10  # frame number as 10 bits in vertical stripes: survives H.264 compression


def frame_image(index: int, width: int, height: int, color: tuple[int, int, int]) -> np.ndarray:
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = color
    band = height // 3  # the bottom third carries the number, the rest is the clip's colour
    stripe = width // STRIPES
    for bit in range(STRIPES):
        value = 255 if (index >> bit) & 1 else 0
        image[height - band :, bit * stripe : (bit + 1) * stripe] = value
    return image


def read_frame_number(image: np.ndarray) -> int:
    height, width = image.shape[:2]
    band = image[height - height // 3 + height // 12 : height - height // 12]
    stripe = width / STRIPES
    number = 0
    for bit in range(STRIPES):
        x0, x1 = int(bit * stripe + stripe / 4), int((bit + 1) * stripe - stripe / 4)
        if band[:, x0:x1].mean() > 128:
            number |= 1 << bit
    return number


def make_video(
    path: Path,
    seconds: float,
    fps: int = 10,
    color: tuple[int, int, int] = (200, 30, 30),
    size: tuple[int, int] = (160, 96),
    gop: int | None = None,
    codec: str = "libx264",
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if gop:
            stream.codec_context.gop_size = gop
        for index in range(round(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(frame_image(index, size[0], size[1], color), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_corrupt(path: Path, source: Path | None = None) -> Path:
    """Not a video: random bytes, or (with ``source``) a file cut to its first kilobyte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if source is not None:
        path.write_bytes(source.read_bytes()[:1024])
    else:
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return path
