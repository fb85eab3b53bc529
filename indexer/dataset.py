"""Training and evaluation sets: CSV/JSONL rows of ``video,caption`` / ``video,label`` (optional ``start,end``),
decoded once into frames at the model's short side and cached on disk.

Frames are decoded exactly as the indexer decodes them (TSN sampling, short side ``POSTER_SHORT_SIDE``
or more), then resized to the model's short side and stored as uint8; the model's own preprocessing
then only crops and normalises, so a clip cached for training is the clip the index would embed.

Decode workers unpickle :func:`_read_one` from this module, so it imports torch (and the build
pipeline) only inside the functions that run in the main process.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexer.clips import decode_resampling, decode_short_side, read_clip
from indexer.decoders.resample import OPENCV_BILINEAR, mmcv_size, opencv_bilinear
from indexer.progress import progress_bar
from models.prompts import DEFAULT_TEMPLATE

log = logging.getLogger(__name__)

CACHE_VERSION = 2  # 2: frames sampled by the containing rule (pts <= t < next pts), no longer the nearest frame


class DatasetError(ValueError):
    """A training/evaluation file that cannot be used (missing columns, no rows...)."""


@dataclass(frozen=True)
class Example:
    video: Path
    caption: str | None = None
    label: str | None = None
    start: float | None = None
    end: float | None = None

    @property
    def key(self) -> tuple:
        """Which clip this is (rows with the same key show the same frames)."""
        return (str(self.video), self.start, self.end)


@dataclass
class ClipSet:
    """The examples that decoded, their clips ([T, H, W, 3] uint8 each; [V, T, H, W, 3] with views) and the ones
    that did not."""

    examples: list[Example]
    clips: list[np.ndarray]
    failed: list[tuple[str, str]] = field(default_factory=list)
    cached: int = 0

    def texts(self, target: str, template: str = DEFAULT_TEMPLATE) -> list[str]:
        """The text each clip is trained against: its caption, or its label wrapped in ``template``."""
        if target == "caption":
            return [e.caption for e in self.examples]
        return [template.format(e.label) for e in self.examples]


def read_examples(path: Path | str) -> list[Example]:
    """Rows of a ``.csv`` (header row) or ``.jsonl`` file; video paths are relative to the file's folder."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such dataset file: {path}")
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        rows = []
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{path}:{number}: not a JSON object: {exc}") from exc
    else:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    if not rows:
        raise DatasetError(f"{path} has no rows")
    columns = set().union(*(r.keys() for r in rows))
    if "video" not in columns or not columns & {"caption", "label"}:
        found = ", ".join(sorted(columns))
        raise DatasetError(f"{path} needs a 'video' column and a 'caption' or 'label' column (found: {found})")
    examples = []
    for number, row in enumerate(rows, 2):
        if not row.get("video"):
            raise DatasetError(f"{path}: row {number} has no video")
        video = Path(str(row["video"])).expanduser()
        start, end = _seconds(row.get("start")), _seconds(row.get("end"))
        if start is not None and end is not None and end <= start:
            raise DatasetError(f"{path}: row {number}: end {end} is not after start {start}")
        examples.append(
            Example(
                video if video.is_absolute() else path.parent / video,
                str(row["caption"]).strip() or None if row.get("caption") else None,
                str(row["label"]).strip() or None if row.get("label") else None,
                start,
                end,
            )
        )
    return examples


def _seconds(value) -> float | None:
    if value in (None, ""):
        return None
    return float(value)


def load_clips(
    examples: Sequence[Example],
    frames: int,
    resize: int,
    interpolation: str = "bicubic",
    cache_dir: Path | None = None,
    workers: int = 1,
    progress: bool = False,
    views: int = 1,
) -> ClipSet:
    """Decode every example to ``frames`` frames with short side ``resize`` (cached), ``views`` temporal views of
    each when more than one (:func:`~indexer.clips.read_clip`); bad videos are skipped."""
    decode_side = decode_short_side(resize)  # the indexer's size, so training sees what indexing sees
    resample = decode_resampling(interpolation)  # and the indexer's resampling
    keys = [_cache_key(e, frames, decode_side, resize, interpolation, views) for e in examples]
    clips: list[np.ndarray | None] = [None] * len(examples)
    errors: dict[int, str] = {}
    if cache_dir is not None:
        cache_dir = Path(cache_dir)
        cache_dir.mkdir(parents=True, exist_ok=True)
    todo = []
    for i, key in enumerate(keys):
        cached = cache_dir / f"{key}.npy" if cache_dir is not None and key else None
        if cached is not None and cached.is_file():
            try:
                clips[i] = np.load(cached)
                continue
            except (OSError, ValueError):
                pass  # a torn cache file: decode again
        if key is None:
            errors[i] = "file not found"
        else:
            todo.append(i)
    cached_count = len(examples) - len(todo) - len(errors)
    bar = progress_bar(len(todo), unit="clip", desc="decoding", enabled=progress and bool(todo))
    jobs = [
        (str(examples[i].video), frames, decode_side, examples[i].start or 0.0, examples[i].end, resample, views) for i in todo
    ]
    for i, (clip, error) in zip(todo, _decode_all(jobs, workers)):
        if error is not None:
            errors[i] = error
        else:
            clips[i] = _resize(clip, resize, interpolation)
            if cache_dir is not None:
                _save_atomic(cache_dir / f"{keys[i]}.npy", clips[i])
        bar.update(1)
    bar.close()
    kept = [i for i in range(len(examples)) if clips[i] is not None]
    failed = [(str(examples[i].video), errors[i]) for i in sorted(errors)]
    for path, reason in failed:
        log.warning("skipping %s: %s", path, reason)
    return ClipSet([examples[i] for i in kept], [clips[i] for i in kept], failed, cached_count)


def _cache_key(example: Example, frames: int, decode_side: int, resize: int, interpolation: str, views: int) -> str | None:
    try:
        stat = example.video.stat()
    except OSError:
        return None
    ident = [CACHE_VERSION, str(example.video.resolve()), stat.st_size, stat.st_mtime_ns]
    ident += [example.start, example.end, frames, decode_side, resize, interpolation, views]
    return hashlib.sha1(json.dumps(ident).encode()).hexdigest()


def _read_one(job: tuple) -> tuple[np.ndarray | None, str | None]:
    path, frames, side, start, end, resample, views = job
    try:
        return read_clip(path, frames, side, start, end, resample=resample, views=views), None
    except Exception as exc:  # noqa: BLE001 - a bad video is reported and skipped, never fatal
        return None, f"{type(exc).__name__}: {exc}"


def _decode_all(jobs: list[tuple], workers: int):
    if workers <= 1 or len(jobs) < 8:
        yield from map(_read_one, jobs)
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield from pool.map(_read_one, jobs, chunksize=8)


def _resize(clip: np.ndarray, resize: int, interpolation: str) -> np.ndarray:
    """Short side -> ``resize`` exactly as :class:`models.Preprocess` does it, kept as uint8 (views: each alike)."""
    if min(clip.shape[-3:-1]) == resize:
        return clip
    if clip.ndim == 5:
        return np.stack([_resize(view, resize, interpolation) for view in clip])
    if interpolation == OPENCV_BILINEAR:  # ViFi-CLIP's weights: OpenCV's bilinear, as the decoders do it
        size = mmcv_size(clip.shape[2], clip.shape[1], resize)
        return np.stack([opencv_bilinear(frame, *size) for frame in clip])
    import torch
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    x = torch.from_numpy(clip).permute(0, 3, 1, 2)
    x = TF.resize(x, [resize], interpolation=InterpolationMode(interpolation), antialias=True)
    return x.permute(0, 2, 3, 1).contiguous().numpy()


def _save_atomic(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, array)
    tmp.replace(path)
