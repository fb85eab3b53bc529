"""The losses fine-tuning minimises, and the batch mixing (mixup / cutmix) ViFi-CLIP trains label data with.

Caption data: :func:`contrastive_loss`, the symmetric InfoNCE over the batch's distinct texts (CLIP4Clip's
convention for retrieval). Label data: :func:`class_loss`, each video's cross-entropy over the prompts of all the
set's classes, one direction (video -> classes), as ViFi-CLIP's ``main.py`` trains (its logits are
``logit_scale * video @ class_text.t()`` over every class, ``trainers/vificlip.py``); smoothed targets and
:func:`mix_batch` follow its ``datasets/blending.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

SWITCH_PROB = 0.5  # ViFi-CLIP's AUG.MIXUP_SWITCH_PROB: with both on, cutmix for this share of batches, mixup otherwise


def contrastive_loss(
    video: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor, text_index: torch.Tensor
) -> torch.Tensor:
    """Symmetric cross-entropy between B videos and the batch's U distinct texts (``text_index[b]`` is video b's).

    Each distinct text appears once, so clips sharing a text are never each other's negatives: the text->video half
    spreads each text's target evenly over all of its videos. With B distinct captions this is CLIP's loss.
    """
    logits = logit_scale * video @ text.t()  # [B, U]
    video_to_text = F.cross_entropy(logits, text_index)
    positives = F.one_hot(text_index, num_classes=text.shape[0]).t().float()  # [U, B]
    targets = positives / positives.sum(dim=1, keepdim=True)
    text_to_video = -(targets * F.log_softmax(logits.t(), dim=1)).sum(dim=1).mean()
    return (video_to_text + text_to_video) / 2


def class_loss(
    video: torch.Tensor, classes: torch.Tensor, logit_scale: torch.Tensor, targets: torch.Tensor, smoothing: float = 0.0
) -> torch.Tensor:
    """Cross-entropy of B videos over the C class prompts' vectors: ``targets`` are class indices [B] (smoothed by
    ``smoothing``, as timm's LabelSmoothingCrossEntropy) or soft targets [B, C] already smoothed and mixed (as timm's
    SoftTargetCrossEntropy, which ViFi-CLIP uses with mixup)."""
    logits = logit_scale * video @ classes.t()  # [B, C]
    if targets.dtype in (torch.int64, torch.int32):
        return F.cross_entropy(logits, targets.long(), label_smoothing=smoothing)
    return soft_cross_entropy(logits, targets)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return -(targets * F.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


def smoothed_targets(labels: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    """One-hot rows with ``smoothing`` spread evenly: off = smoothing / C, on = 1 - smoothing + off (blending.py's
    values; the same targets as ``F.cross_entropy(label_smoothing=smoothing)``)."""
    off = smoothing / num_classes
    rows = torch.full((labels.shape[0], num_classes), off, device=labels.device)
    return rows.scatter_(1, labels.long().view(-1, 1), 1.0 - smoothing + off)


@dataclass(frozen=True)
class Mixing:
    """What :func:`mix_batch` did to one batch: each clip b was blended with clip ``permutation[b]``, keeping ``lam``
    of its own target; ``box`` (x1, y1, x2, y2) is the pasted region for cutmix."""

    kind: str  # "mixup", "cutmix" or "none"
    lam: float = 1.0
    permutation: np.ndarray | None = None
    box: tuple[int, int, int, int] | None = None


def mix_batch(
    pixels: torch.Tensor, targets: torch.Tensor, mixup: float, cutmix: float, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor, Mixing]:
    """Mixup (alpha ``mixup``) or cutmix (alpha ``cutmix``) of a batch of clips [B, T, 3, H, W] and their soft targets
    [B, C]; an alpha of 0 turns that one off. With both on, cutmix for a share SWITCH_PROB of batches (CutmixMixupBlending).
    Returns new tensors (the inputs are left as they were) and what was done."""
    if mixup <= 0 and cutmix <= 0:
        return pixels, targets, Mixing("none")
    use_cutmix = cutmix > 0 and (mixup <= 0 or rng.random() < SWITCH_PROB)
    permutation = rng.permutation(pixels.shape[0])
    order = torch.as_tensor(permutation, device=pixels.device)
    if use_cutmix:
        box = cutmix_box(pixels.shape[-2], pixels.shape[-1], float(rng.beta(cutmix, cutmix)), rng)
        x1, y1, x2, y2 = box
        mixed = pixels.clone()
        mixed[..., y1:y2, x1:x2] = pixels[order][..., y1:y2, x1:x2]
        # the kept share is the area outside the box (the box may be clipped at the border)
        lam = 1.0 - (x2 - x1) * (y2 - y1) / (pixels.shape[-1] * pixels.shape[-2])
        mixing = Mixing("cutmix", lam, permutation, box)
    else:
        lam = float(rng.beta(mixup, mixup))
        mixed = lam * pixels + (1.0 - lam) * pixels[order]
        mixing = Mixing("mixup", lam, permutation)
    return mixed, lam * targets + (1.0 - lam) * targets[order], mixing


def cutmix_box(height: int, width: int, lam: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """blending.py's rand_bbox: a box of sides int(side * sqrt(1 - lam)) centred on a uniform pixel, clipped to the
    frame; the same box in every frame of the clip."""
    ratio = np.sqrt(1.0 - lam)
    cut_w, cut_h = int(width * ratio), int(height * ratio)
    cx, cy = int(rng.integers(width)), int(rng.integers(height))
    x1, x2 = np.clip([cx - cut_w // 2, cx + cut_w // 2], 0, width)
    y1, y2 = np.clip([cy - cut_h // 2, cy + cut_h // 2], 0, height)
    return int(x1), int(y1), int(x2), int(y2)
