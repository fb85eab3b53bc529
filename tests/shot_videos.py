"""Synthetic videos with known shot boundaries, written with PyAV (H.264): hard cuts between shots of different
content at irregular times, a fade to black and back, a cross-dissolve, and a long static shot. Used by
tests/indexer/test_shots.py and benchmarks/bench_index.py (the detector's precision and recall)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

FPS = 25
SIZE = (320, 180)


@dataclass
class ShotVideo:
    """A written video and its truth: the start frame of each shot after a hard cut, and the (first, last) frames of
    each gradual transition, inside which at most one boundary may be found."""

    path: Path
    frames: int
    fps: int
    cuts: list[int] = field(default_factory=list)
    gradual: list[tuple[int, int]] = field(default_factory=list)


def _content(kind: int, seed: int, size=SIZE):
    """A shot's look: a function of the frame index within the shot (colours, textures, moving shapes differ)."""
    width, height = size
    rng = np.random.default_rng(seed)
    base = rng.integers(20, 236, 3)
    texture = rng.integers(0, 255, (height // 8 + 1, width // 8 + 1, 3)).repeat(8, 0).repeat(8, 1)[:height, :width]
    yy, xx = np.mgrid[0:height, 0:width]
    speed = rng.uniform(1.5, 4.0)

    def frame(i: int) -> np.ndarray:
        if kind % 3 == 0:  # a flat colour with a moving square
            image = np.empty((height, width, 3), np.uint8)
            image[:] = base
            x = _bounce(i * speed, width - 40)
            image[60:100, x : x + 40] = 255 - base
        elif kind % 3 == 1:  # a texture panning sideways
            image = np.roll(texture, int(i * speed), axis=1).astype(np.uint8)
        else:  # a gradient whose band drifts, and a moving disc
            band = ((xx + yy + i * speed) % 120 / 120.0)[..., None]
            image = (base * band + (255 - base) * (1 - band)).astype(np.uint8)
            cx, cy = 20 + _bounce(i * 2, width - 40), height // 2
            image[(xx - cx) ** 2 + (yy - cy) ** 2 < 400] = (250, 250, 250)
        return image

    return frame


def _bounce(distance: float, span: int) -> int:
    """A position moving back and forth over ``0..span`` (never jumping from one edge to the other: that would be
    a cut inside the shot)."""
    step = int(distance) % (2 * span)
    return step if step <= span else 2 * span - step


def _write(path: Path, images, fps: int, size=SIZE) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for image in images:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_cuts_video(path: Path, seed: int = 0, shots: int = 14, fps: int = FPS) -> ShotVideo:
    """Shots of 0.8 to 6 s with hard cuts between them, then a 1 s fade to black and 1 s back, more shots, a 1 s
    cross-dissolve, and a last shot."""
    rng = np.random.default_rng(seed)
    lengths = [int(rng.uniform(0.8, 6.0) * fps) for _ in range(shots)]
    looks = [_content(k + seed, seed * 100 + k) for k in range(shots)]
    images, truth = [], ShotVideo(path, 0, fps)
    fade, half = fps, shots // 2
    for k, (length, look) in enumerate(zip(lengths, looks)):
        if k and k != half and k != shots - 1:
            truth.cuts.append(len(images))
        if k == half:  # a fade to black and back from the previous shot into this one
            truth.gradual.append((len(images) - fade, len(images) + fade))
            previous = looks[k - 1]
            for i in range(fade):
                images[-fade + i] = (previous(lengths[k - 1] - fade + i) * (1 - (i + 1) / fade)).astype(np.uint8)
            images += [(look(i) * ((i + 1) / fade)).astype(np.uint8) for i in range(fade)]
            images += [look(i) for i in range(fade, length + fade)]
            continue
        if k == shots - 1:  # a cross-dissolve from the previous shot
            truth.gradual.append((len(images) - fade, len(images)))
            previous = looks[k - 1]
            for i in range(fade):
                a = (i + 1) / (fade + 1)
                images[-fade + i] = (previous(lengths[k - 1] - fade + i) * (1 - a) + look(i) * a).astype(np.uint8)
        images += [look(i) for i in range(length)]
    _write(path, images, fps)
    truth.frames = len(images)
    return truth


def write_shots_video(
    path: Path, seconds: float, seed: int = 0, size=SIZE, fps: int = FPS, shot_seconds=(2.0, 20.0)
) -> ShotVideo:
    """``seconds`` of shots whose lengths are drawn uniformly from ``shot_seconds``, hard cuts between them, the last
    one cut short at the end: a library clip with a known shot structure (benchmarks/bench_index.py times builds
    over such clips, where every cut is a real one)."""
    rng = np.random.default_rng(seed)
    total = round(seconds * fps)
    images, truth, k = [], ShotVideo(path, total, fps), 0
    while len(images) < total:
        if images:
            truth.cuts.append(len(images))
        look = _content(k + seed, seed * 1000 + k, size)
        length = min(total - len(images), max(1, round(rng.uniform(*shot_seconds) * fps)))
        images += [look(i) for i in range(length)]
        k += 1
    _write(path, images, fps, size)
    return truth


def write_static_video(path: Path, seconds: float = 90.0, fps: int = 10, size=(160, 96)) -> ShotVideo:
    """One static shot (a still picture with a little sensor noise) of ``seconds``."""
    rng = np.random.default_rng(7)
    still = _content(1, 3, size)(0).astype(np.int16)
    count = round(seconds * fps)
    images = (np.clip(still + rng.integers(-3, 4, still.shape), 0, 255).astype(np.uint8) for _ in range(count))
    _write(path, images, fps, size)
    return ShotVideo(path, count, fps)


def boundary_accuracy(found: list[int], truth: ShotVideo, tolerance: int = 1) -> tuple[float, float]:
    """(precision, recall) of ``found`` boundary frames against ``truth.cuts`` within ``tolerance`` frames; a boundary
    inside a gradual transition is neither right nor wrong (at most one is allowed there: checked apart)."""
    scored = [f for f in found if not any(a - tolerance <= f <= b + tolerance for a, b in truth.gradual)]
    hits = {c for c in truth.cuts if any(abs(f - c) <= tolerance for f in scored)}
    true_found = [f for f in scored if any(abs(f - c) <= tolerance for c in truth.cuts)]
    precision = len(true_found) / len(scored) if scored else 1.0
    recall = len(hits) / len(truth.cuts) if truth.cuts else 1.0
    return precision, recall
