"""Synthetic captioned clips (PyAV-encoded H.264) for measuring retrieval and fine-tuning offline.

Each clip shows one or two coloured shapes moving along a path over a plain background; its caption
and label are generated from the same attributes ("a small red triangle moving horizontally on a blue
background"). The split holds some colour+shape pairs out of training entirely, so the test set asks
for combinations the model never saw, and no test caption occurs in training.

Torch-free (numpy + av), so it can run in worker processes.
"""

from __future__ import annotations

import csv
import itertools
import math
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

BACKGROUNDS = {
    "black": (15, 15, 15),
    "white": (240, 240, 240),
    "blue": (35, 55, 200),
    "green": (40, 160, 60),
    "gray": (128, 128, 128),
    "yellow": (230, 210, 40),
}
COLOURS = {
    "red": (220, 35, 35),
    "green": (40, 190, 60),
    "blue": (40, 70, 230),
    "yellow": (245, 225, 40),
    "white": (250, 250, 250),
    "black": (10, 10, 10),
    "purple": (150, 50, 190),
    "orange": (245, 140, 25),
}
SHAPES = ("circle", "square", "triangle", "diamond")
SIZES = {"small": 0.11, "large": 0.2}  # radius as a fraction of the frame side
MOTIONS = ("horizontally", "vertically", "diagonally", "in a circle", "still")
CSV_COLUMNS = ("video", "caption", "label")


@dataclass(frozen=True)
class SynthObject:
    colour: str
    shape: str
    size: str
    motion: str

    def phrase(self) -> str:
        moving = "standing still" if self.motion == "still" else f"moving {self.motion}"
        return f"a {self.size} {self.colour} {self.shape} {moving}"


@dataclass(frozen=True)
class SynthClip:
    background: str
    objects: tuple[SynthObject, ...]

    @property
    def caption(self) -> str:
        return " and ".join(o.phrase() for o in self.objects) + f" on a {self.background} background"

    @property
    def slug(self) -> str:
        """The caption as a file name ("small-red-triangle-moving-horizontally-on-blue"), so a result is checkable by eye."""
        words = [w for w in self.caption.split() if w not in ("a", "background")]
        return "-".join(words)[:120]

    @property
    def label(self) -> str:
        """The class for zero-shot classification: the colour and shape of the first object."""
        return f"{self.objects[0].colour} {self.objects[0].shape}"


@dataclass(frozen=True)
class SynthOptions:
    n: int = 1200
    seed: int = 0
    test_fraction: float = 0.2
    two_object_fraction: float = 0.2
    held_out_pairs: int = 4  # colour+shape pairs that appear only in test
    seconds: float = 2.0
    fps: int = 10
    size: int = 96
    workers: int | None = None
    # Frames from one keyframe to the next; None: the encoder's default (libx264: 250, so one keyframe per
    # short clip). Keyframe sampling (--fast-seek) sees only keyframes, so its cost depends on this.
    gop: int | None = None


@dataclass
class SynthReport:
    train: int
    test: int
    held_out: list[str]
    train_csv: Path
    test_csv: Path


def all_single_object_clips() -> list[SynthClip]:
    return [
        SynthClip(bg, (SynthObject(colour, shape, size, motion),))
        for bg, colour, shape, size, motion in itertools.product(BACKGROUNDS, COLOURS, SHAPES, SIZES, MOTIONS)
        if colour != bg
    ]


def plan_split(options: SynthOptions) -> tuple[list[SynthClip], list[SynthClip], list[tuple[str, str]]]:
    """(train clips, test clips, held-out colour+shape pairs); test captions are unique and absent from train."""
    rng = np.random.default_rng(options.seed)
    n_test = max(1, round(options.n * options.test_fraction))
    n_train = options.n - n_test
    colours = list(rng.permutation(list(COLOURS)))
    held_out = [(str(colours[i % len(colours)]), SHAPES[i % len(SHAPES)]) for i in range(options.held_out_pairs)]
    held = set(held_out)

    def uses_held_out(clip: SynthClip) -> bool:
        return any((o.colour, o.shape) in held for o in clip.objects)

    def random_clip(pool: list[SynthClip]) -> SynthClip:
        clip = pool[rng.integers(len(pool))]
        if rng.random() >= options.two_object_fraction:
            return clip
        first = clip.objects[0]
        while True:
            other = pool[rng.integers(len(pool))].objects[0]
            if other.colour != clip.background and (other.colour, other.shape) != (first.colour, first.shape):
                return SynthClip(clip.background, (first, other))

    singles = all_single_object_clips()
    seen_pool = [c for c in singles if not uses_held_out(c)]
    held_pool = [c for c in singles if uses_held_out(c)]
    test: dict[str, SynthClip] = {}
    n_held = round(n_test * 0.3) if held_pool else 0
    while len(test) < n_test:
        pool = held_pool if len(test) < n_held else seen_pool
        clip = random_clip(pool)
        test.setdefault(clip.caption, clip)
    train: list[SynthClip] = []
    while len(train) < n_train:
        clip = random_clip(seen_pool)
        if clip.caption not in test and not uses_held_out(clip):
            train.append(clip)
    return train, list(test.values()), held_out


def render_clip(clip: SynthClip, seed: int, seconds: float = 2.0, fps: int = 10, size: int = 96) -> np.ndarray:
    """The clip's frames [T, size, size, 3] uint8; ``seed`` varies paths, speeds and shades."""
    rng = np.random.default_rng(seed)
    frames = max(2, round(seconds * fps))
    bg = np.clip(np.array(BACKGROUNDS[clip.background]) + rng.integers(-12, 13, 3), 0, 255).astype(np.uint8)
    video = np.empty((frames, size, size, 3), dtype=np.uint8)
    video[:] = bg
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    for obj in clip.objects:
        colour = np.clip(np.array(COLOURS[obj.colour]) + rng.integers(-12, 13, 3), 0, 255).astype(np.uint8)
        radius = SIZES[obj.size] * size * rng.uniform(0.9, 1.1)
        path = _path(obj.motion, rng, frames, size, radius)
        for t, (cx, cy) in enumerate(path):
            video[t][_shape_mask(obj.shape, xx, yy, cx, cy, radius)] = colour
    return video


def _path(motion: str, rng: np.random.Generator, frames: int, size: int, radius: float) -> np.ndarray:
    margin = radius + 2
    lo, hi = margin, size - margin
    centre = rng.uniform(lo + (hi - lo) * 0.25, hi - (hi - lo) * 0.25, 2)
    u = np.linspace(0.0, 1.0, frames)
    if rng.random() < 0.5:  # both directions of travel share a caption
        u = u[::-1]
    span = (hi - lo) * rng.uniform(0.75, 1.0)
    start = lo + ((hi - lo) - span) * rng.random()
    along = start + span * u
    if motion == "horizontally":
        xy = np.stack([along, np.full(frames, centre[1])], axis=1)
    elif motion == "vertically":
        xy = np.stack([np.full(frames, centre[0]), along], axis=1)
    elif motion == "diagonally":
        other = along if rng.random() < 0.5 else (lo + hi) - along  # either diagonal
        xy = np.stack([along, other], axis=1)
    elif motion == "in a circle":
        r = (hi - lo) * rng.uniform(0.25, 0.4)
        phase = rng.uniform(0, 2 * math.pi)
        angle = phase + 2 * math.pi * u * rng.uniform(0.9, 1.0)
        mid = (lo + hi) / 2
        xy = np.stack([mid + r * np.cos(angle), mid + r * np.sin(angle)], axis=1)
    elif motion == "still":
        xy = np.repeat(centre[None], frames, axis=0)
    else:
        raise ValueError(f"unknown motion {motion!r}")
    return xy


def _shape_mask(shape: str, xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, r: float) -> np.ndarray:
    dx, dy = xx - cx, yy - cy
    if shape == "circle":
        return dx * dx + dy * dy <= r * r
    if shape == "square":
        return (np.abs(dx) <= 0.85 * r) & (np.abs(dy) <= 0.85 * r)
    if shape == "diamond":
        return np.abs(dx) + np.abs(dy) <= 1.15 * r
    if shape == "triangle":  # apex up, flat base
        return (dy >= -r) & (dy <= 0.8 * r) & (np.abs(dx) <= (dy + r) / 1.8 * 1.15)
    raise ValueError(f"unknown shape {shape!r}")


def write_video(path: Path, frames: np.ndarray, fps: int, gop: int | None = None) -> None:
    """H.264 at ``fps``, a keyframe every ``gop`` frames (None: the encoder's default)."""
    if gop is not None and gop < 1:
        raise ValueError(f"gop must be at least 1 frame, not {gop}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        if gop is not None:
            stream.codec_context.gop_size = gop
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _write_one(job: tuple[Path, SynthClip, int, float, int, int, int | None]) -> None:
    path, clip, seed, seconds, fps, size, gop = job
    write_video(path, render_clip(clip, seed, seconds, fps, size), fps, gop)


def generate(
    out_dir: Path, options: SynthOptions = SynthOptions(), progress=None, splits: Sequence[str] = ("train", "test")
) -> SynthReport:
    """Write ``videos/train/``, ``videos/test/`` (files named after their captions), ``train.csv`` and ``test.csv``
    (columns video,caption,label; paths relative to the CSV). ``videos/test`` alone is a searchable library.

    Only the ``splits`` named are written (a split left out counts 0 and has no CSV); both are always planned,
    so a test split written alone holds the same clips, frames and file names as a full run's."""
    unknown = set(splits) - {"train", "test"}
    if unknown:
        raise ValueError(f"unknown split(s) {sorted(unknown)}: the splits are 'train' and 'test'")
    out_dir = Path(out_dir)
    train, test, held_out = plan_split(options)
    jobs, rows = [], {split: [] for split in ("train", "test") if split in splits}
    for split, clips in (("train", train), ("test", test)):
        if split not in rows:
            continue
        for i, clip in enumerate(clips):
            relative = f"videos/{split}/{i:05d}-{clip.slug}.mp4"
            seed = options.seed * 1_000_003 + (0 if split == "train" else 500_000) + i
            jobs.append((out_dir / relative, clip, seed, options.seconds, options.fps, options.size, options.gop))
            rows[split].append({"video": relative, "caption": clip.caption, "label": clip.label})
    workers = options.workers or max(1, os.cpu_count() or 1)
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for _ in pool.map(_write_one, jobs, chunksize=16):
                if progress is not None:
                    progress.update(1)
    else:
        for job in jobs:
            _write_one(job)
            if progress is not None:
                progress.update(1)
    for split, split_rows in rows.items():
        with open(out_dir / f"{split}.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(split_rows)
    return SynthReport(
        len(rows.get("train", ())),
        len(rows.get("test", ())),
        [f"{c} {s}" for c, s in held_out],
        out_dir / "train.csv",
        out_dir / "test.csv",
    )
