"""The offline demo: the whole product on any machine, with no download.

Synthetic captioned clips (``indexer/synth``) -> the tiny model fine-tuned on their training split
(``models/finetune``) -> an index of the held-out test split (``indexer/pipeline``) -> the search page, with
held-out captions shown as example queries. Every step keeps its output under one folder per settings
(``~/.cache/vidseek/demo/<settings>/``) and is skipped when that output is already there, so the second
run starts serving in seconds; delete the folder to remove everything the demo wrote.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.settings import Settings, cache_root
from indexer.progress import progress_bar
from indexer.synth import SynthClip, SynthOptions, generate, plan_split

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)

DEMO_VERSION = 1  # bump when what the demo writes changes, so old caches are not reused
# The classify page's prompt for the demo model. It learnt its words from captions only ("a small red circle moving
# horizontally on a blue background", indexer/synth.py), so a label ("purple diamond") reads best inside a caption's
# own opening words; "a photo of a {}." is unlike anything it saw. Zero-shot top-1 among 4 labels on the 100 held-out
# clips of the default demo: 0.72 with this template, 0.44 with "a photo of a {}.".
CLASSIFY_TEMPLATE = "a small {} moving"


def default_cache_dir() -> Path:
    return cache_root() / "demo"


@dataclass(frozen=True)
class DemoOptions:
    cache_dir: Path
    clips: int = 1000  # synthetic clips in all; test_fraction of them are indexed and searched
    test_fraction: float = 0.1
    epochs: int = 20
    frames: int = 8
    batch_size: int = 32
    lr: float = 1e-3  # random init: the text tower learns the words from scratch
    seed: int = 0
    model: str = "vidseek-tiny"
    device: str = "auto"
    suggestions: int = 6
    progress: bool = True

    def check(self) -> None:
        if self.clips < 20:
            raise ValueError("the demo needs at least 20 clips")
        if not 0 < self.test_fraction < 1:
            raise ValueError("the test fraction must be between 0 and 1")
        if self.epochs < 1:
            raise ValueError("the demo needs at least one epoch of fine-tuning")

    @property
    def folder(self) -> Path:
        """One folder per settings that change what is written: data, checkpoint and index are reused only for these."""
        key = {
            "version": DEMO_VERSION,
            **{k: v for k, v in asdict(self).items() if k not in ("cache_dir", "device", "suggestions", "progress")},
        }
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
        return Path(self.cache_dir) / f"{self.model}-{self.clips}clips-{self.epochs}ep-{digest}"

    @property
    def synth(self) -> SynthOptions:
        return SynthOptions(n=self.clips, seed=self.seed, test_fraction=self.test_fraction)


@dataclass
class DemoResult:
    folder: Path
    index_dir: Path
    checkpoint: Path
    test_clips: int
    r1: float  # held-out captions whose own clip the index ranks first
    chance_r1: float
    suggestions: list[str]  # example queries for the page: held-out captions answered with their own clip first
    reused: list[str] = field(default_factory=list)  # steps skipped because their output was there
    seconds: dict[str, float] = field(default_factory=dict)


def run_demo(options: DemoOptions, say: Callable[[str], None] = print) -> DemoResult:
    """Make (or reuse) the demo's data, fine-tuned model and index, and measure how well it answers."""
    options.check()
    folder = options.folder
    folder.mkdir(parents=True, exist_ok=True)
    result = DemoResult(folder, folder / "index", folder / "model" / "finetuned.pt", 0, 0.0, 0.0, [])
    data = folder / "data"

    started = time.perf_counter()
    if (data / "train.csv").is_file() and (data / "test.csv").is_file():
        result.reused.append("data")
    else:
        say(f"[1/3] writing {options.clips} synthetic captioned clips to {data}")
        _synthesise(data, options)
    result.seconds["data"] = time.perf_counter() - started

    started = time.perf_counter()
    done = result.checkpoint.with_suffix(".done.json")
    trained = False
    if done.is_file() and result.checkpoint.is_file():
        result.reused.append("model")
    else:
        say(
            f"[2/3] fine-tuning {options.model} on the training clips ({options.epochs} epochs; "
            "interrupted runs resume where they stopped)"
        )
        _finetune(data / "train.csv", result.checkpoint, done, options)
        trained = True
    result.seconds["model"] = time.perf_counter() - started

    started = time.perf_counter()
    say(f"[3/3] indexing the held-out clips in {data / 'videos' / 'test'} with the fine-tuned model")
    _index(data / "videos" / "test", result.index_dir, result.checkpoint, options, rebuild=trained)
    result.seconds["index"] = time.perf_counter() - started

    _measure(result, data, options)
    return result


def _synthesise(data: Path, options: DemoOptions) -> None:
    if data.exists():
        shutil.rmtree(data)  # a run stopped half-way: its CSVs were never written
    with progress_bar(options.clips, "clip", "writing clips", enabled=options.progress) as bar:
        generate(data, options.synth, progress=bar)


def _finetune(train_csv: Path, checkpoint: Path, done: Path, options: DemoOptions) -> None:
    from indexer.dataset import load_clips, read_examples
    from models import load_encoder
    from models.finetune import FinetuneOptions, finetune

    encoder = load_encoder(options.model, "none", options.device)
    clip_set = load_clips(
        read_examples(train_csv),
        options.frames,
        encoder.preprocess.resize,
        encoder.preprocess.interpolation,
        cache_dir=options.folder / "frames",
        workers=max(1, os.cpu_count() or 1),
        progress=options.progress,
    )
    if clip_set.failed:
        raise RuntimeError(f"{len(clip_set.failed)} demo clip(s) did not decode (first: {clip_set.failed[0]})")
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    train = FinetuneOptions(epochs=options.epochs, batch_size=options.batch_size, lr=options.lr, seed=options.seed)
    history = finetune(
        encoder,
        clip_set.clips,
        clip_set.texts("caption"),
        train,
        checkpoint,
        resume=True,
        progress=progress_bar if options.progress else False,
        extra={"train": str(train_csv), "target": "caption", "frames": options.frames, "demo": DEMO_VERSION},
        log_path=checkpoint.with_suffix(".log.json"),
    )
    done.write_text(json.dumps({"epochs": len(history), "loss": history[-1]["loss"] if history else None}))


def _index(library: Path, index_dir: Path, checkpoint: Path, options: DemoOptions, rebuild: bool) -> None:
    from indexer import read_manifest
    from indexer.pipeline.local import build_index
    from indexer.pipeline.options import BuildOptions
    from models import load_encoder

    encoder = load_encoder(options.model, str(checkpoint), options.device)
    # A demo cache indexed before shots were the default keeps its fixed windows, as `index build` keeps them.
    published = None if rebuild else read_manifest(index_dir)
    segments = published.segmenter if published is not None else "shots"
    build = BuildOptions(
        library=library, index_dir=index_dir, frames=options.frames, segments=segments, rebuild=rebuild, progress=options.progress
    )
    report = build_index(encoder, build)
    if report.failed or report.total_segments == 0:
        raise RuntimeError(f"the demo index is incomplete: {report.summary()}")


def _measure(result: DemoResult, data: Path, options: DemoOptions) -> None:
    """R@1 of every held-out caption through the published index; the suggestions are picked from its answers."""
    from indexer import IndexReader
    from models import load_encoder

    clips = plan_split(options.synth)[1]
    files = sorted((data / "videos" / "test").glob("*.mp4"))  # written as NNNNN-<caption slug>.mp4, in plan order
    if len(files) != len(clips) or not all(f.stem.endswith(c.slug) for f, c in zip(files, clips)):
        raise RuntimeError(f"{data} does not hold the planned test clips: delete {result.folder} and run the demo again")
    encoder = load_encoder(options.model, str(result.checkpoint), options.device)
    reader = IndexReader(result.index_dir)
    try:
        firsts = [reader.search(v, 1)[0][0][0] for v in encoder.encode_text([c.caption for c in clips])]
        names = {i: Path(r.path).name for i, r in reader.segments(set(firsts)).items()}
    finally:
        reader.close()
    found = [names[i] == f.name for i, f in zip(firsts, files)]
    result.test_clips = len(clips)
    result.r1 = float(np.mean(found))
    result.chance_r1 = 1.0 / len(clips)
    result.suggestions = suggest([c for c, hit in zip(clips, found) if hit], options.suggestions)


def demo_app(result: DemoResult, settings: Settings) -> FastAPI:
    """The app serving the demo's index (``settings.index_dir``) with its example queries and its classify prompt."""
    from app.main import create_app
    from app.services import VidseekService

    return create_app(settings, VidseekService(settings), examples=result.suggestions, classify_template=CLASSIFY_TEMPLATE)


def suggest(answered: list[SynthClip], n: int) -> list[str]:
    """``n`` held-out captions the index answers with their own clip first, as varied as the set allows: one-object
    clips first, each with a colour, shape and background not suggested yet where possible. (They are picked
    from what works, as any demo's examples are; R@1 over every held-out caption is reported beside them.)"""
    ranked = sorted(answered, key=lambda c: len(c.objects))  # stable: plan order within a size
    chosen: list[SynthClip] = []

    def new(clip: SynthClip, *parts) -> bool:
        return all(getattr(clip.objects[0], p, None) != getattr(c.objects[0], p, None) for c in chosen for p in parts)

    passes = (
        lambda c: new(c, "colour", "shape") and all(c.background != o.background for o in chosen),
        lambda c: new(c, "colour"),
        lambda c: True,
    )
    for fresh in passes:
        for clip in ranked:
            if len(chosen) < n and clip not in chosen and fresh(clip):
                chosen.append(clip)
    return [c.caption for c in chosen]
