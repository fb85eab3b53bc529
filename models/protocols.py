"""The ViFi-CLIP paper's low-data protocols over any labelled set: few-shot and base-to-novel.

* **few-shot** (the paper's Table 7): train on K clips per class (K = 2, 4, 8, 16) drawn from the training set,
  measure top-1 over *all* classes on the test set.
* **base-to-novel** (Table 8, the CoOp/CoCoOp protocol the paper follows): the classes are split in two halves,
  base and novel; train on K clips per base class, then measure top-1 on the test clips of base classes (scored
  over the base classes only) and of novel classes (over the novel classes only), and their harmonic mean.

Pure bookkeeping: which rows train, which classes score. Training and embedding are the caller's (``train`` and
``score`` arguments), so the same protocol runs full fine-tuning and prompt learning alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

PROTOCOLS = ("few-shot", "base2novel")
METHODS = ("vl", "full")  # vision-language prompts on the frozen model, or fine-tuning every weight
PAPER_SHOTS = (2, 4, 8, 16)
BASE2NOVEL_SHOTS = 16  # the paper trains base classes on 16 shots each


@dataclass(frozen=True)
class PaperSettings:
    """What the reference's configs train a protocol with (``TRAIN.EPOCHS``, ``TRAIN.LR``, and for prompts
    ``N_CTX_*`` and ``PROMPT_DEPTH_*``, the same in both towers)."""

    epochs: int
    lr: float
    prompt_tokens: int | None = None
    prompt_depth: int | None = None


# configs/few_shot/{finetuning,prompting}_few_shot/* and configs/base2novel/{finetuning,prompting}_base2novel/*
PAPER_SETTINGS = {
    ("few-shot", "full"): PaperSettings(epochs=50, lr=2e-6),
    ("few-shot", "vl"): PaperSettings(epochs=50, lr=8e-3, prompt_tokens=10, prompt_depth=12),
    ("base2novel", "full"): PaperSettings(epochs=11, lr=2e-6),
    ("base2novel", "vl"): PaperSettings(epochs=11, lr=4e-2, prompt_tokens=16, prompt_depth=9),
}


def parse_shots(text: str) -> list[int]:
    """``"2,4,8,16"`` -> [2, 4, 8, 16]: the K of each run, each at least 1, in the order given, without repeats."""
    try:
        shots = [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"--shots takes whole numbers separated by commas (2,4,8,16), not {text!r}") from None
    if any(k < 1 for k in shots):
        raise ValueError(f"--shots must each be at least 1, not {text!r}")
    return list(dict.fromkeys(shots))


@dataclass(frozen=True)
class BaseNovel:
    base: list[str]
    novel: list[str]


def few_shot_rows(labels: Sequence[str], shots: int, seed: int = 0, classes: Sequence[str] | None = None) -> list[int]:
    """``shots`` row numbers per class of ``labels`` (only ``classes``, when given), drawn without replacement with
    ``seed``; in row order. A class with fewer than ``shots`` rows is refused, naming it: a K-shot result trained on
    fewer clips for some classes would not be K-shot."""
    if shots < 1:
        raise ValueError(f"--shots must be at least 1, not {shots}")
    wanted = sorted(set(labels)) if classes is None else list(classes)
    rows_of: dict[str, list[int]] = {label: [] for label in wanted}
    for row, label in enumerate(labels):
        if label in rows_of:
            rows_of[label].append(row)
    short = [f"{label} ({len(rows)})" for label, rows in rows_of.items() if len(rows) < shots]
    if short:
        raise ValueError(f"{shots}-shot training needs {shots} clips of every class; these have fewer: {', '.join(short)}")
    rng = np.random.default_rng(seed)
    chosen = [row for label in wanted for row in rng.choice(rows_of[label], size=shots, replace=False).tolist()]
    return sorted(chosen)


def base_novel_split(classes: Sequence[str]) -> BaseNovel:
    """The distinct classes in sorted order, the first half (the larger, when odd) base, the rest novel: a split
    anyone can reproduce from the label list alone, as the paper's fixed class lists are."""
    names = sorted(set(classes))
    if len(names) < 2:
        raise ValueError(f"base-to-novel needs at least 2 classes, got {len(names)}")
    half = (len(names) + 1) // 2
    return BaseNovel(base=names[:half], novel=names[half:])


def harmonic_mean(a: float, b: float) -> float:
    return 0.0 if a + b == 0 else 2 * a * b / (a + b)


Score = Callable[[Sequence[int], Sequence[str]], float]  # (test rows, the classes they are scored over) -> top-1
Train = Callable[[Sequence[int]], Score]  # training rows -> a scorer with the trained model


def run_few_shot(train_labels: Sequence[str], test_labels: Sequence[str], shots: int, train: Train, seed: int = 0) -> dict:
    """Train on ``shots`` clips per class, top-1 over all the training set's classes on every test row of them."""
    classes = sorted(set(train_labels))
    rows = few_shot_rows(train_labels, shots, seed)
    score = train(rows)
    known = set(classes)
    test_rows = [row for row, label in enumerate(test_labels) if label in known]
    if not test_rows:
        raise ValueError("no test clip has a class of the training set")
    return {
        "protocol": "few-shot",
        "shots": shots,
        "train_clips": len(rows),
        "classes": len(classes),
        "test_clips": len(test_rows),
        "top1": score(test_rows, classes),
    }


def run_base_novel(
    train_labels: Sequence[str], test_labels: Sequence[str], train: Train, shots: int = BASE2NOVEL_SHOTS, seed: int = 0
) -> dict:
    """Train on ``shots`` clips per base class; top-1 on base test clips over base classes and on novel test clips
    over novel classes, and the harmonic mean of the two."""
    split = base_novel_split(train_labels)
    rows = few_shot_rows(train_labels, shots, seed, classes=split.base)
    score = train(rows)
    result: dict = {"protocol": "base2novel", "shots": shots, "train_clips": len(rows)}
    for name, classes in (("base", split.base), ("novel", split.novel)):
        known = set(classes)
        test_rows = [row for row, label in enumerate(test_labels) if label in known]
        if not test_rows:
            raise ValueError(f"no test clip has a {name} class ({', '.join(classes[:5])}...)")
        result[f"{name}_classes"] = len(classes)
        result[f"{name}_test_clips"] = len(test_rows)
        result[f"{name}_top1"] = score(test_rows, classes)
    result["hm"] = harmonic_mean(result["base_top1"], result["novel_top1"])
    return result
