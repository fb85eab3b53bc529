"""The named optimisation recipes of :func:`models.finetune.finetune` and their learning-rate schedules.

``vificlip`` is the reference code's (muzairkhattak/ViFi-CLIP: utils/config.py, utils/optimizer.py), the default for
label data; ``vidseek`` is ours, the default for captions. A recipe fixes how the optimizer treats the parameters
(which parameters decay, whether the token table trains, the schedule, the clamp) and gives the defaults of the
options left unset; VL prompting keeps the recipe and changes the rate only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

# CLIP's own training clips the logit scale at 100 "to prevent training instability" (Radford et al. 2021, sec. 2.5;
# open_clip's training loop clamps it after every step). ViFi-CLIP's code clamps nothing, so only our recipe does.
MAX_LOGIT_SCALE = math.log(100.0)
NO_DECAY = ("positional_embedding", "class_embedding", "token_embedding", "logit_scale")  # our recipe's exemptions
# ViFi-CLIP's fine-tuning rate (configs/zero_shot/train, fully_supervised/k400 image/text-tuned: 8e-6).
FINETUNE_LR = 8e-6
# Its few-shot prompting configs (configs/few_shot/prompting_few_shot/*: LR 8e-3, everything else as fine-tuning);
# the base-to-novel prompting configs use 4e-2.
PROMPT_LR = 8e-3


def cosine_with_warmup(total_steps: int, warmup_steps: float) -> Callable[[int], float]:
    """Our schedule's learning-rate factor at a step: linear warm-up from 0, then cosine decay to 0 over the rest."""
    warmup_steps = max(1, min(total_steps - 1, round(warmup_steps)))

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def vificlip_schedule(total_steps: int, warmup_steps: float, final: float = 0.01) -> Callable[[int], float]:
    """ViFi-CLIP's factor (utils/optimizer.py: timm's CosineLRScheduler, t_initial = all steps, lr_min = lr / 100,
    warmup_lr_init = 0, per step): linear from 0 over the warm-up, then the cosine of the step counted from step 0,
    not from the warm-up's end (timm's warmup_prefix=False), so the rate drops when the warm-up ends; ``final`` after."""
    warmup_steps = int(warmup_steps)  # as build_scheduler counts them

    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / warmup_steps
        if step >= total_steps:
            return final
        return final + 0.5 * (1.0 - final) * (1.0 + math.cos(math.pi * step / total_steps))

    return factor


@dataclass(frozen=True)
class Recipe:
    """What a named recipe fixes, and the defaults it gives FinetuneOptions' fields left None."""

    warmup_epochs: float
    decay_all: bool  # weight decay on every parameter, or not on gains, biases, embeddings and the temperature
    schedule: Callable[[int, float], Callable[[int], float]]  # (total steps, warm-up steps) -> factor at a step
    max_logit_scale: float | None  # clamp of logit_scale after each step
    train_token_embedding: bool
    label_smoothing: float  # the three label-data defaults (caption data has no classes to smooth or mix)
    mixup: float
    cutmix: float


RECIPES = {
    # ViFi-CLIP's utils/config.py defaults (TRAIN.WARMUP_EPOCHS 5, AUG.LABEL_SMOOTH 0.1, AUG.MIXUP 0.8, AUG.CUTMIX 1.0;
    # no shipped config overrides them) and utils/optimizer.py (AdamW over model.parameters(): decay on all, the
    # prompts' too when only they train). Its class prompts are embedded once when the model is built (a buffer), so
    # the token table never trains.
    # fields: warmup_epochs, decay_all, schedule, max_logit_scale, train_token_embedding, label_smoothing, mixup, cutmix
    "vificlip": Recipe(5.0, True, vificlip_schedule, None, False, 0.1, 0.8, 1.0),
    "vidseek": Recipe(1.0, False, cosine_with_warmup, MAX_LOGIT_SCALE, True, 0.0, 0.0, 0.0),
}


def param_groups(named: Iterable[tuple[str, torch.nn.Parameter]], weight_decay: float, decay_all: bool) -> list[dict]:
    """AdamW's two groups of the trainable ``named`` parameters: decayed, and exempt (gains, biases, embeddings and
    the temperature) unless the recipe decays all."""
    decay, no_decay = [], []
    for name, param in named:
        if not param.requires_grad:
            continue
        exempt = not decay_all and (param.ndim < 2 or name.removesuffix(".weight").endswith(NO_DECAY))
        (no_decay if exempt else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def freeze_towers(model: torch.nn.Module, tower: str | None, train_token_embedding: bool) -> None:
    """Freeze ``tower`` ("image" or "text"; the temperature trains either way, as in the paper's ablations) and, unless
    the recipe trains it, the token table; everything else trains."""
    for name, param in model.named_parameters():
        is_image = name.startswith("visual.")
        frozen = (tower == "image" and is_image) or (tower == "text" and not is_image and name != "logit_scale")
        frozen = frozen or (not train_token_embedding and name.startswith("token_embedding."))
        param.requires_grad_(not frozen)
