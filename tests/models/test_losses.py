"""The training losses and the batch mixing, held to the facts of ViFi-CLIP's criterion (timm's label-smoothing and
soft-target cross-entropies, main.py) and its datasets/blending.py (smoothed one-hot values, mixup, cutmix)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy

from models.losses import class_loss, cutmix_box, mix_batch, smoothed_targets, soft_cross_entropy


def _features(seed=0, b=4, c=3, d=8):
    g = torch.Generator().manual_seed(seed)
    video = F.normalize(torch.randn(b, d, generator=g), dim=-1)
    classes = F.normalize(torch.randn(c, d, generator=g), dim=-1)
    return video, classes, torch.tensor(30.0)


def test_class_loss_is_the_references_smoothed_cross_entropy_over_every_class():
    video, classes, scale = _features()
    labels = torch.tensor([0, 1, 1, 0])  # class 2 is in no clip of the batch and still a negative
    logits = scale * video @ classes.t()
    ours = class_loss(video, classes, scale, labels, smoothing=0.1)
    torch.testing.assert_close(ours, F.cross_entropy(logits, labels, label_smoothing=0.1), rtol=0, atol=1e-6)
    torch.testing.assert_close(ours, LabelSmoothingCrossEntropy(smoothing=0.1)(logits, labels), rtol=0, atol=1e-6)
    assert class_loss(video, classes, scale, labels).item() == pytest.approx(F.cross_entropy(logits, labels).item(), abs=1e-6)


def test_smoothed_targets_are_blendings_on_and_off_values():
    targets = smoothed_targets(torch.tensor([2, 0]), num_classes=4, smoothing=0.1)
    off, on = 0.1 / 4, 1 - 0.1 + 0.1 / 4
    torch.testing.assert_close(targets, torch.tensor([[off, off, on, off], [on, off, off, off]]))
    video, classes, scale = _features(1, b=2, c=4)
    logits = scale * video @ classes.t()
    soft = class_loss(video, classes, scale, targets)  # soft targets: no second smoothing
    torch.testing.assert_close(soft, F.cross_entropy(logits, torch.tensor([2, 0]), label_smoothing=0.1), rtol=0, atol=1e-6)
    torch.testing.assert_close(soft, SoftTargetCrossEntropy()(logits, targets), rtol=0, atol=1e-6)
    torch.testing.assert_close(soft_cross_entropy(logits, targets), soft)


def _clips(b=4, t=2, size=16, seed=0):
    return torch.randn(b, t, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_mixup_blends_clips_and_targets_with_one_lambda():
    pixels, targets = _clips(), smoothed_targets(torch.tensor([0, 1, 1, 0]), 3, 0.1)
    before = pixels.clone()
    mixed, mixed_targets, done = mix_batch(pixels, targets, mixup=0.8, cutmix=0.0, rng=np.random.default_rng(5))
    assert done.kind == "mixup" and 0 < done.lam < 1 and sorted(done.permutation) == [0, 1, 2, 3]
    other = torch.as_tensor(done.permutation)
    torch.testing.assert_close(mixed, done.lam * before + (1 - done.lam) * before[other])
    torch.testing.assert_close(mixed_targets, done.lam * targets + (1 - done.lam) * targets[other])
    torch.testing.assert_close(mixed_targets.sum(1), torch.ones(4))
    assert torch.equal(pixels, before)  # the caller's batch is left alone


def test_cutmix_pastes_one_box_through_every_frame_and_weights_targets_by_area():
    pixels, targets = _clips(size=32, seed=1), smoothed_targets(torch.tensor([0, 1, 2, 0]), 3, 0.0)
    for seed in range(20):
        mixed, mixed_targets, done = mix_batch(pixels, targets, mixup=0.0, cutmix=1.0, rng=np.random.default_rng(seed))
        assert done.kind == "cutmix"
        x1, y1, x2, y2 = done.box
        other = torch.as_tensor(done.permutation)
        inside = torch.zeros(32, 32, dtype=torch.bool)
        inside[y1:y2, x1:x2] = True
        torch.testing.assert_close(mixed[..., inside], pixels[other][..., inside])  # all frames, all channels
        torch.testing.assert_close(mixed[..., ~inside], pixels[..., ~inside])
        assert done.lam == pytest.approx(1 - inside.sum().item() / (32 * 32))
        torch.testing.assert_close(mixed_targets, done.lam * targets + (1 - done.lam) * targets[other])


def test_cutmix_box_is_rand_bbox():
    rng = np.random.default_rng(0)
    boxes = [cutmix_box(224, 224, 0.75, rng) for _ in range(200)]
    # sides int(224 * sqrt(0.25)) = 112, halved to 56 each side of the centre, clipped at the frame's edges
    assert all(0 <= x1 <= x2 <= 224 and 0 <= y1 <= y2 <= 224 for x1, y1, x2, y2 in boxes)
    assert max(x2 - x1 for x1, _, x2, _ in boxes) == 112 and min(x2 - x1 for x1, _, x2, _ in boxes) < 112
    x1, y1, x2, y2 = cutmix_box(10, 10, 1.0, rng)  # lam 1: an empty box
    assert x1 == x2 and y1 == y2


def test_mixup_and_cutmix_switch_half_and_half_and_zero_turns_one_off():
    pixels, targets = _clips(), smoothed_targets(torch.tensor([0, 1, 1, 0]), 3, 0.1)
    rng = np.random.default_rng(0)
    kinds = [mix_batch(pixels, targets, 0.8, 1.0, rng)[2].kind for _ in range(400)]
    assert 0.4 < kinds.count("cutmix") / 400 < 0.6 and kinds.count("mixup") + kinds.count("cutmix") == 400
    assert {mix_batch(pixels, targets, 0.8, 0.0, rng)[2].kind for _ in range(20)} == {"mixup"}
    assert {mix_batch(pixels, targets, 0.0, 1.0, rng)[2].kind for _ in range(20)} == {"cutmix"}
    same, same_targets, done = mix_batch(pixels, targets, 0.0, 0.0, rng)
    assert done.kind == "none" and same is pixels and same_targets is targets
