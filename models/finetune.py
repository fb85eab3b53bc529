"""Fine-tuning the frame-pooled video encoder the ViFi-CLIP way, on clips the caller has already decoded.

Rasheed et al., "Fine-tuned CLIP models are efficient video learners", 2023: both encoders trained; frames
encoded independently and mean-pooled (or another fusion, for the paper's Table 5); AdamW (beta 0.9/0.98,
eps 1e-8, weight decay 1e-3); linear warm-up then cosine decay per step; gradient accumulation; mixed precision
on CUDA. ``freeze`` gives the paper's image-only / text-only fine-tuning ablations. ``prompts="vl"`` is the paper's
"bridge and prompt" second stage: every CLIP weight frozen (the temperature too), only deep vision-language prompts
(:mod:`models.vl_prompts`) trained, at the reference's prompting rate, under the same recipe.

The loss follows the data (:mod:`models.losses`): label data trains each video's cross-entropy over the prompts
of all the set's classes (the paper's setting), caption data the symmetric InfoNCE over the batch's distinct texts
(CLIP4Clip's). The optimisation follows a named :data:`RECIPES` entry: ``vificlip`` (the reference code's, the
default for labels) or ``vidseek`` (ours, the default for captions).

A checkpoint (:func:`models.checkpoints.save_checkpoint`, or :func:`models.vl_prompts.save_prompt_checkpoint` holding
only the prompts and naming their base) is written after every epoch with the optimizer and schedule state, so an
interrupted run resumes where the last epoch ended.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from open_clip.transformer import QuickGELU

from models.checkpoints import FORMAT_PROMPTS, FORMAT_VIDSEEK, read_training_state, save_checkpoint
from models.encoder import VideoEncoder
from models.errors import ModelError
from models.fusion import FUSIONS, text_features, video_features
from models.losses import class_loss, contrastive_loss, mix_batch, smoothed_targets
from models.recipes import FINETUNE_LR, PROMPT_LR, RECIPES, Recipe, freeze_towers, param_groups
from models.vl_prompts import (
    DEFAULT_DEPTH,
    DEFAULT_TOKENS,
    base_spec,
    prepare_prompt_training,
    prompted_spec,
    save_prompt_checkpoint,
)

log = logging.getLogger(__name__)

TARGETS = ("caption", "label")
PROMPT_KINDS = ("vl",)


@dataclass
class FinetuneOptions:
    epochs: int = 10
    batch_size: int = 32
    lr: float | None = None  # 8e-6 (ViFi-CLIP's fine-tuning rate); 8e-3 with prompts (its few-shot prompting configs)
    weight_decay: float = 1e-3
    warmup_epochs: float | None = None  # the recipe's: 5 (vificlip), 1 (vidseek)
    accumulation: int = 1
    freeze: str | None = None  # "text" (image-FT) or "image" (text-FT)
    fusion: str = "embedding"
    seed: int = 0
    amp: bool = True  # only on CUDA
    target: str = "caption"  # what the texts are: "caption"s, or "label"s (class prompts, the set's distinct ones)
    recipe: str | None = None  # vificlip (the default for labels) or vidseek (for captions)
    label_smoothing: float | None = None  # label data: the recipe's (0.1 vificlip, 0 vidseek)
    mixup: float | None = None  # label data: Beta alpha, 0 = off (0.8 vificlip, 0 vidseek)
    cutmix: float | None = None  # label data: Beta alpha, 0 = off (1.0 vificlip, 0 vidseek)
    prompts: str | None = None  # "vl": train only deep vision-language prompts on the frozen model
    prompt_tokens: int = DEFAULT_TOKENS  # prompt tokens per layer and tower (the reference's few-shot configs)
    prompt_depth: int = DEFAULT_DEPTH  # layers that take fresh prompts, from the input (both towers)

    def __post_init__(self) -> None:
        """Fill what was left None from the recipe, so the checkpoint records the values trained with."""
        if self.target not in TARGETS:
            raise ValueError(f"the target is 'caption' or 'label', not {self.target!r}")
        if self.recipe is None:
            self.recipe = "vificlip" if self.target == "label" else "vidseek"
        if self.recipe not in RECIPES:
            raise ValueError(f"unknown recipe {self.recipe!r}; choose one of {', '.join(RECIPES)}")
        recipe, labels = RECIPES[self.recipe], self.target == "label"
        if self.lr is None:
            self.lr = PROMPT_LR if self.prompts else FINETUNE_LR
        if self.warmup_epochs is None:
            self.warmup_epochs = recipe.warmup_epochs
        for name in ("label_smoothing", "mixup", "cutmix"):
            if getattr(self, name) is None:
                setattr(self, name, getattr(recipe, name) if labels else 0.0)

    def check(self) -> None:
        if self.epochs < 1 or self.batch_size < 2 or self.accumulation < 1:
            raise ValueError("epochs >= 1, batch size >= 2 and accumulation >= 1 are required")
        if self.lr <= 0:
            raise ValueError("the learning rate must be > 0")
        if self.freeze not in (None, "text", "image"):
            raise ValueError(f"--freeze takes 'text' or 'image', not {self.freeze!r}")
        if self.prompts not in (None, *PROMPT_KINDS):
            raise ValueError(f"--prompts takes {', '.join(PROMPT_KINDS)}, not {self.prompts!r}")
        if self.prompts and self.freeze:
            raise ValueError("--prompts trains only the prompts on a frozen model: it cannot be combined with --freeze")
        if self.prompt_tokens < 1 or self.prompt_depth < 1:
            raise ValueError("prompt tokens and prompt depth must be >= 1")
        if self.fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {self.fusion!r}; choose one of {', '.join(FUSIONS)}")
        if not 0 <= self.label_smoothing < 1 or self.mixup < 0 or self.cutmix < 0:
            raise ValueError("label smoothing is in [0, 1) and the mixup and cutmix alphas are >= 0")
        if self.target == "caption" and (self.label_smoothing or self.mixup or self.cutmix):
            raise ValueError("label smoothing, mixup and cutmix work over classes: they need label data (--target label)")

    @property
    def mixes(self) -> bool:
        return self.mixup > 0 or self.cutmix > 0


class ResumeMismatchError(ModelError):
    """--resume was given a checkpoint written for a different model or data set."""


def uses_quick_gelu(model: torch.nn.Module) -> bool:
    return any(isinstance(m, QuickGELU) for m in model.modules())


def _batches(n: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    order = np.random.default_rng([seed, epoch]).permutation(n)
    batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    if len(batches) > 1 and len(batches[-1]) < 2:  # a batch of one has no negatives
        batches[-2] = np.concatenate([batches[-2], batches.pop()])
    return batches


def finetune(
    encoder: VideoEncoder,
    clips: Sequence[np.ndarray],
    texts: Sequence[str],
    options: FinetuneOptions,
    checkpoint: Path | str,
    *,
    resume: bool = False,
    on_epoch: Callable[[int], dict] | None = None,
    progress: bool | Callable[..., Any] = False,
    extra: dict | None = None,
    log_path: Path | str | None = None,
) -> list[dict]:
    """Train ``encoder.model`` in place on (clip, text) pairs (with ``options.prompts``, only VL prompts attached to
    it, or the ones it has, which it keeps); returns the per-epoch log. The encoder is left in eval mode, ready.

    ``clips`` are uint8 [T, H, W, 3] arrays with short side ``encoder.preprocess.resize``. ``texts`` are captions,
    or with ``options.target == "label"`` each clip's class prompt (its label in the template): the classes are
    the distinct prompts of the whole set. After every epoch ``checkpoint`` holds the model (or the prompts) and
    the state to resume; ``on_epoch(epoch)`` may add metrics (a validation score) to that epoch's log entry. ``extra`` is stored
    in the checkpoint as is. ``progress``: True for a tqdm bar per epoch, or a factory ``progress(total=, unit=,
    desc=)`` of a tqdm-like reporter (the caller's, e.g. one that prints lines when stderr is not a terminal).
    """
    classes = _checked_classes(encoder, clips, texts, options)
    model = encoder.model
    torch.manual_seed(options.seed)  # before the prompts are drawn, so a seed gives the same run
    run = _Run.start(_trainable(encoder, options), encoder.device, len(clips), options)
    history: list[dict] = []
    start_epoch = 0
    if resume and Path(checkpoint).is_file():
        history, start_epoch = run.resume(checkpoint, len(clips))
    for epoch in range(start_epoch, options.epochs):
        model.train()
        started = time.perf_counter()
        losses = _train_epoch(encoder, run, clips, list(texts), classes, epoch, progress)
        entry = {
            "epoch": epoch + 1,
            "loss": float(np.mean(losses)),
            "lr": float(run.optimizer.param_groups[0]["lr"]),
            "logit_scale": float(model.logit_scale.detach().exp()),
            "seconds": round(time.perf_counter() - started, 2),
        }
        _refresh_prompted_spec(encoder)
        if on_epoch is not None:
            model.eval()
            entry.update(on_epoch(epoch + 1))
        history.append(entry)
        log.info("epoch %d: %s", epoch + 1, entry)
        _save_epoch(checkpoint, encoder, run, epoch + 1, history, len(clips), extra or {})
        if log_path is not None:
            Path(log_path).write_text(json.dumps({"options": asdict(options), **(extra or {}), "epochs": history}, indent=2))
    _refresh_prompted_spec(encoder)
    model.eval()
    for param in model.parameters():
        param.requires_grad_(True)
    return history


def _checked_classes(
    encoder: VideoEncoder, clips: Sequence[np.ndarray], texts: Sequence[str], options: FinetuneOptions
) -> list[str] | None:
    """Refuse (ValueError) what cannot train; the classes of label data (its distinct prompts), None for captions."""
    options.check()
    if len(clips) != len(texts) or len(clips) < 2:
        raise ValueError(f"need at least two (clip, text) pairs, got {len(clips)} clips and {len(texts)} texts")
    if encoder.prompts is not None and not options.prompts:
        raise ValueError("the model is VL-prompted: train its prompts on (--prompts vl), or fine-tune its base weights")
    classes = list(dict.fromkeys(texts)) if options.target == "label" else None
    if classes is not None and len(classes) < 2:
        raise ValueError(f"label data needs at least two classes, got {len(classes)}")
    return classes


def _trainable(encoder: VideoEncoder, options: FinetuneOptions) -> torch.nn.Module:
    """What the run trains, its other weights frozen: the prompts (attached here, or the encoder's own to train on),
    or the model less the frozen tower and, by the recipe, the token table."""
    if options.prompts:
        prepare_prompt_training(encoder, options.prompt_tokens, options.prompt_depth)
        return encoder.prompts
    freeze_towers(encoder.model, options.freeze, RECIPES[options.recipe].train_token_embedding)
    return encoder.model


def _refresh_prompted_spec(encoder: VideoEncoder) -> None:
    """A prompted encoder's fingerprint is of its prompts' values: after they trained, recompute it."""
    if encoder.prompts is not None:
        encoder.spec = prompted_spec(base_spec(encoder.spec), encoder.prompts, pretrained=encoder.spec.pretrained)


@dataclass
class _Run:
    """One fine-tuning run's moving parts: what trains (the model, or its prompts), AdamW, the recipe's schedule,
    the fp16 grad scaler."""

    model: torch.nn.Module  # what the checkpoint's weights are: encoder.model, or encoder.prompts
    options: FinetuneOptions
    recipe: Recipe
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    amp: bool

    @classmethod
    def start(cls, model: torch.nn.Module, device: str, n: int, options: FinetuneOptions) -> _Run:
        recipe = RECIPES[options.recipe]
        groups = param_groups(model.named_parameters(), options.weight_decay, recipe.decay_all)
        optimizer = torch.optim.AdamW(groups, lr=options.lr, betas=(0.9, 0.98), eps=1e-8)  # ViFi-CLIP's betas and eps
        batches_per_epoch = len(_batches(n, options.batch_size, options.seed, 0))
        steps_per_epoch = math.ceil(batches_per_epoch / options.accumulation)
        total_steps = steps_per_epoch * options.epochs
        factor = recipe.schedule(total_steps, options.warmup_epochs * steps_per_epoch)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        amp = options.amp and device.startswith("cuda")
        return cls(model, options, recipe, optimizer, scheduler, torch.amp.GradScaler("cuda", enabled=amp), amp)

    def resume(self, checkpoint: Path | str, n: int) -> tuple[list[dict], int]:
        """Load the state ``checkpoint`` holds; returns its log and the epochs done."""
        state = read_training_state(checkpoint)
        wanted = FORMAT_PROMPTS if self.options.prompts else FORMAT_VIDSEEK
        if state.get("format") != wanted:
            raise ResumeMismatchError(
                f"{checkpoint} is a {state.get('format')} checkpoint and this run writes {wanted}: "
                "resume with the options it was trained with (--prompts), or start afresh without --resume"
            )
        if state.get("train_size") not in (None, n):
            raise ResumeMismatchError(
                f"{checkpoint} was written for {state['train_size']} training clips, not {n}; start afresh without --resume"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["lr_scheduler"])
        if self.amp and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        log.info("resuming from %s after epoch %d", checkpoint, int(state["epoch"]))
        return list(state.get("log", [])), int(state["epoch"])

    def autocast(self):
        return torch.autocast("cuda", dtype=torch.float16) if self.amp else contextlib.nullcontext()

    def step(self) -> None:
        """One optimizer step (after ``options.accumulation`` batches), then the schedule and the recipe's clamp."""
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        if self.recipe.max_logit_scale is not None and hasattr(self.model, "logit_scale"):  # prompts leave it be
            with torch.no_grad():
                self.model.logit_scale.clamp_(0, self.recipe.max_logit_scale)


def _train_epoch(
    encoder: VideoEncoder,
    run: _Run,
    clips: Sequence[np.ndarray],
    texts: list[str],
    classes: list[str] | None,
    epoch: int,
    progress,
) -> list[float]:
    """One pass over the shuffled batches; returns each batch's loss."""
    options = run.options
    batches = _batches(len(clips), options.batch_size, options.seed, epoch)
    mixing = np.random.default_rng([options.seed, epoch, 1])  # per epoch, so a resumed run mixes as a straight one
    losses = []
    bar = _progress_bar(progress, len(batches), f"epoch {epoch + 1}/{options.epochs}") if progress else None
    run.optimizer.zero_grad(set_to_none=True)
    for number, batch in enumerate(batches):
        batch_clips, batch_texts = [clips[i] for i in batch], [texts[i] for i in batch]
        loss = batch_loss(encoder, batch_clips, batch_texts, options, classes=classes, rng=mixing, autocast=run.autocast)
        run.scaler.scale(loss / options.accumulation).backward()
        if (number + 1) % options.accumulation == 0 or number + 1 == len(batches):
            run.step()
        losses.append(float(loss.detach()))
        if bar is not None:
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            bar.update(1)
    if bar is not None:
        bar.close()
    return losses


def batch_loss(
    encoder: VideoEncoder,
    clips: list[np.ndarray],
    texts: list[str],
    options: FinetuneOptions,
    *,
    classes: list[str] | None = None,
    rng: np.random.Generator | None = None,
    autocast: Callable[[], Any] = contextlib.nullcontext,
) -> torch.Tensor:
    """One batch's loss as :func:`finetune` computes it (the one place training runs the two towers).

    Captions (``classes`` None): the symmetric InfoNCE over the batch's distinct texts. Labels: each clip's
    cross-entropy over the prompts of all ``classes`` (``texts[b]`` among them), encoded afresh every step as
    ViFi-CLIP does, with ``options.label_smoothing``; mixup / cutmix draw from ``rng`` (seeded by ``options.seed``
    if None).
    """
    model, device = encoder.model, encoder.device
    pixels = torch.stack([encoder.preprocess(clip) for clip in clips]).to(device, non_blocking=True)
    prompts = list(dict.fromkeys(texts)) if classes is None else classes
    position = {text: n for n, text in enumerate(prompts)}
    index = torch.tensor([position[text] for text in texts], device=device)
    targets = index
    if classes is not None and options.mixes:
        # smoothed before mixing, as blending.py's one_hot(on_value, off_value) is
        targets = smoothed_targets(index, len(classes), options.label_smoothing)
        generator = rng if rng is not None else np.random.default_rng(options.seed)
        pixels, targets, _ = mix_batch(pixels, targets, options.mixup, options.cutmix, generator)
    tokens = encoder.tokenize(prompts).to(device)
    with autocast():
        video = video_features(model, pixels, options.fusion)
        text = text_features(model, tokens)
        if classes is None:
            return contrastive_loss(video, text, model.logit_scale.exp(), index)
        return class_loss(video, text, model.logit_scale.exp(), targets, options.label_smoothing)


def _save_epoch(
    checkpoint: Path | str, encoder: VideoEncoder, run: _Run, epoch: int, history: list[dict], n: int, extra: dict
) -> None:
    """The checkpoint after ``epoch``: the weights (or the prompts and their base), what they were trained with, and
    the state to resume from."""
    state = {
        "optimizer": run.optimizer.state_dict(),
        "lr_scheduler": run.scheduler.state_dict(),
        "scaler": run.scaler.state_dict() if run.amp else None,
        "epoch": epoch,
        "epochs": run.options.epochs,
        "log": history,
        "options": asdict(run.options),
        "train_size": n,
    }
    if run.options.prompts:
        save_prompt_checkpoint(checkpoint, encoder, **state, **extra)
        return
    save_checkpoint(
        checkpoint,
        encoder.model,
        **state,
        quick_gelu=uses_quick_gelu(encoder.model),
        preprocess=encoder.preprocess.to_dict(),
        model_name=encoder.spec.name,
        pretrained=encoder.spec.pretrained,
        **extra,
    )


def _progress_bar(progress: bool | Callable[..., Any], total: int, desc: str):
    if callable(progress):
        return progress(total=total, unit="batch", desc=desc)
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="batch", desc=desc, dynamic_ncols=True, mininterval=0.5, leave=False)
