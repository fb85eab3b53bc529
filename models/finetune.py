"""Fine-tuning the frame-pooled video encoder the ViFi-CLIP way, on clips the caller has already decoded.

Recipe (Rasheed et al., "Fine-tuned CLIP models are efficient video learners", 2023): both encoders
trained; frames encoded independently and mean-pooled (or another fusion, for the paper's Table 5);
symmetric contrastive cross-entropy scaled by the learned temperature over the batch's distinct texts,
so clips with the same label are never each other's negatives; AdamW (beta 0.9/0.98,
eps 1e-8, weight decay 1e-3 except on gains, biases, embeddings and the temperature); linear warm-up
then cosine decay per step; gradient accumulation; mixed precision on CUDA. ``freeze`` gives the
paper's image-only / text-only fine-tuning ablations.

A checkpoint (:func:`models.checkpoints.save_checkpoint`) is written after every epoch with the
optimizer and schedule state, so an interrupted run resumes where the last epoch ended.
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
import torch.nn.functional as F
from open_clip.transformer import QuickGELU

from models.checkpoints import read_training_state, save_checkpoint
from models.encoder import VideoEncoder
from models.errors import ModelError
from models.fusion import FUSIONS, text_features, video_features

log = logging.getLogger(__name__)

NO_DECAY = ("positional_embedding", "class_embedding", "token_embedding", "logit_scale")
MAX_LOGIT_SCALE = math.log(100.0)


@dataclass
class FinetuneOptions:
    epochs: int = 10
    batch_size: int = 32
    lr: float = 8e-6
    weight_decay: float = 1e-3
    warmup_epochs: float = 1.0
    accumulation: int = 1
    freeze: str | None = None  # "text" (image-FT) or "image" (text-FT)
    fusion: str = "embedding"
    seed: int = 0
    amp: bool = True  # only on CUDA

    def check(self) -> None:
        if self.epochs < 1 or self.batch_size < 2 or self.accumulation < 1:
            raise ValueError("epochs >= 1, batch size >= 2 and accumulation >= 1 are required")
        if self.lr <= 0:
            raise ValueError("the learning rate must be > 0")
        if self.freeze not in (None, "text", "image"):
            raise ValueError(f"--freeze takes 'text' or 'image', not {self.freeze!r}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {self.fusion!r}; choose one of {', '.join(FUSIONS)}")


class ResumeMismatchError(ModelError):
    """--resume was given a checkpoint written for a different model or data set."""


def contrastive_loss(
    video: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor, text_index: torch.Tensor
) -> torch.Tensor:
    """Symmetric cross-entropy between B videos and the batch's U distinct texts (``text_index[b]`` is video b's).

    Each distinct text appears once, so clips sharing a label are never each other's negatives: the
    video->text half is ViFi-CLIP's cross-entropy over the batch's labels, and the text->video half
    spreads each text's target evenly over all of its videos. With B distinct captions this is CLIP's loss.
    """
    logits = logit_scale * video @ text.t()  # [B, U]
    video_to_text = F.cross_entropy(logits, text_index)
    positives = F.one_hot(text_index, num_classes=text.shape[0]).t().float()  # [U, B]
    targets = positives / positives.sum(dim=1, keepdim=True)
    text_to_video = -(targets * F.log_softmax(logits.t(), dim=1)).sum(dim=1).mean()
    return (video_to_text + text_to_video) / 2


def cosine_with_warmup(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """The learning-rate factor at a step: linear warm-up from 0, then cosine decay to 0."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def uses_quick_gelu(model: torch.nn.Module) -> bool:
    return any(isinstance(m, QuickGELU) for m in model.modules())


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or name.endswith(NO_DECAY) else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _freeze(model: torch.nn.Module, tower: str | None) -> None:
    for name, param in model.named_parameters():
        is_image = name.startswith("visual.")
        frozen = (tower == "image" and is_image) or (tower == "text" and not is_image and name != "logit_scale")
        param.requires_grad_(not frozen)


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
    """Train ``encoder.model`` in place on (clip, text) pairs; returns the per-epoch log.

    ``clips`` are uint8 [T, H, W, 3] arrays with short side ``encoder.preprocess.resize``. After every
    epoch ``checkpoint`` holds the model and the state to resume; ``on_epoch(epoch)`` may add metrics
    (a validation score) to that epoch's log entry. ``extra`` is stored in the checkpoint as is. ``progress``:
    True for a tqdm bar per epoch, or a factory ``progress(total=, unit=, desc=)`` of a tqdm-like reporter (the
    caller's, e.g. one that prints lines when stderr is not a terminal).
    """
    options.check()
    if len(clips) != len(texts) or len(clips) < 2:
        raise ValueError(f"need at least two (clip, text) pairs, got {len(clips)} clips and {len(texts)} texts")
    model = encoder.model
    torch.manual_seed(options.seed)
    _freeze(model, options.freeze)
    run = _Run.start(model, encoder.device, len(clips), options)
    history: list[dict] = []
    start_epoch = 0
    if resume and Path(checkpoint).is_file():
        history, start_epoch = run.resume(checkpoint, len(clips))
    for epoch in range(start_epoch, options.epochs):
        model.train()
        started = time.perf_counter()
        losses = _train_epoch(encoder, run, clips, list(texts), epoch, progress)
        entry = {
            "epoch": epoch + 1,
            "loss": float(np.mean(losses)),
            "lr": float(run.optimizer.param_groups[0]["lr"]),
            "logit_scale": float(model.logit_scale.detach().exp()),
            "seconds": round(time.perf_counter() - started, 2),
        }
        if on_epoch is not None:
            model.eval()
            entry.update(on_epoch(epoch + 1))
        history.append(entry)
        log.info("epoch %d: %s", epoch + 1, entry)
        _save_epoch(checkpoint, encoder, run, epoch + 1, history, len(clips), extra or {})
        if log_path is not None:
            Path(log_path).write_text(json.dumps({"options": asdict(options), **(extra or {}), "epochs": history}, indent=2))
    model.eval()
    for param in model.parameters():
        param.requires_grad_(True)
    return history


@dataclass
class _Run:
    """One fine-tuning run's moving parts: the model, AdamW, its warm-up + cosine schedule, the fp16 grad scaler."""

    model: torch.nn.Module
    options: FinetuneOptions
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    amp: bool

    @classmethod
    def start(cls, model: torch.nn.Module, device: str, n: int, options: FinetuneOptions) -> _Run:
        optimizer = torch.optim.AdamW(_param_groups(model, options.weight_decay), lr=options.lr, betas=(0.9, 0.98), eps=1e-8)
        batches_per_epoch = len(_batches(n, options.batch_size, options.seed, 0))
        steps_per_epoch = math.ceil(batches_per_epoch / options.accumulation)
        total_steps = steps_per_epoch * options.epochs
        warmup = min(total_steps - 1, round(options.warmup_epochs * steps_per_epoch))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_with_warmup(total_steps, max(1, warmup)))
        amp = options.amp and device.startswith("cuda")
        return cls(model, options, optimizer, scheduler, torch.amp.GradScaler("cuda", enabled=amp), amp)

    def resume(self, checkpoint: Path | str, n: int) -> tuple[list[dict], int]:
        """Load the state ``checkpoint`` holds; returns its log and the epochs done."""
        state = read_training_state(checkpoint)
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
        """One optimizer step (after ``options.accumulation`` batches), then the schedule and the temperature clamp."""
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        with torch.no_grad():
            self.model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)


def _train_epoch(
    encoder: VideoEncoder, run: _Run, clips: Sequence[np.ndarray], texts: list[str], epoch: int, progress
) -> list[float]:
    """One pass over the shuffled batches; returns each batch's loss."""
    options = run.options
    batches = _batches(len(clips), options.batch_size, options.seed, epoch)
    losses = []
    bar = _progress_bar(progress, len(batches), f"epoch {epoch + 1}/{options.epochs}") if progress else None
    run.optimizer.zero_grad(set_to_none=True)
    for number, batch in enumerate(batches):
        loss = _batch_loss(encoder, run, [clips[i] for i in batch], [texts[i] for i in batch])
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


def _batch_loss(encoder: VideoEncoder, run: _Run, clips: list[np.ndarray], texts: list[str]) -> torch.Tensor:
    """The contrastive loss of one batch, over its distinct texts (the model's part under ``run``'s autocast)."""
    model, device = encoder.model, encoder.device
    pixels = torch.stack([encoder.preprocess(clip) for clip in clips]).to(device, non_blocking=True)
    distinct = list(dict.fromkeys(texts))
    position = {text: n for n, text in enumerate(distinct)}
    text_index = torch.tensor([position[text] for text in texts], device=device)
    tokens = encoder.tokenizer(distinct).to(device)
    with run.autocast():
        video = video_features(model, pixels, run.options.fusion)
        text = text_features(model, tokens)
        return contrastive_loss(video, text, model.logit_scale.exp(), text_index)


def _save_epoch(
    checkpoint: Path | str, encoder: VideoEncoder, run: _Run, epoch: int, history: list[dict], n: int, extra: dict
) -> None:
    """The checkpoint after ``epoch``: the weights, what they were trained with, and the state to resume from."""
    save_checkpoint(
        checkpoint,
        encoder.model,
        optimizer=run.optimizer.state_dict(),
        lr_scheduler=run.scheduler.state_dict(),
        scaler=run.scaler.state_dict() if run.amp else None,
        epoch=epoch,
        epochs=run.options.epochs,
        log=history,
        options=asdict(run.options),
        train_size=n,
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
