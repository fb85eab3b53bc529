"""Fine-tuning on label data and the two recipes: the loss over every class prompt (ViFi-CLIP's criterion), mixup and
cutmix as the reference blends, its schedule (timm's CosineLRScheduler), what it decays, and the temperature clamp."""

import copy
import math
from dataclasses import asdict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from timm.scheduler.cosine_lr import CosineLRScheduler

from models.checkpoints import read_training_state
from models.evaluate import embed_clips, embed_texts
from models.finetune import FinetuneOptions, batch_loss, finetune
from models.fusion import text_features, video_features
from models.losses import contrastive_loss, mix_batch, smoothed_targets
from models.recipes import vificlip_schedule
from tests.models.test_finetune import toy_set

CLASSES = ["a photo of a red.", "a photo of a green.", "a photo of a blue."]


def _labelled(seeds=(0,)):
    """The toy set's clips, each labelled by its colour's class prompt."""
    clips, texts = [], []
    for seed in seeds:
        c, t = toy_set(seed=seed)
        clips += c
        texts += [f"a photo of a {text.split()[1]}." for text in t]
    return clips, texts


def _features(encoder, pixels, prompts):
    model = encoder.model
    video = video_features(model, pixels)
    text = text_features(model, encoder.tokenize(prompts))
    return video, text, model.logit_scale.exp()


def test_label_loss_is_cross_entropy_over_all_class_prompts(tiny_encoder):
    clips = [toy_set()[0][i] for i in (0, 1, 1, 0)]
    labels = torch.tensor([0, 1, 1, 0])  # of 3 classes: class 2 (blue) is no clip's, and still a negative
    texts = [CLASSES[i] for i in labels]
    options = FinetuneOptions(target="label", mixup=0, cutmix=0)
    assert options.recipe == "vificlip" and options.label_smoothing == 0.1
    with torch.no_grad():
        ours = batch_loss(tiny_encoder, clips, texts, options, classes=CLASSES)
        pixels = torch.stack([tiny_encoder.preprocess(clip) for clip in clips])
        video, text, scale = _features(tiny_encoder, pixels, CLASSES)
        expected = F.cross_entropy(scale * video @ text.t(), labels, label_smoothing=0.1)
        assert abs(ours.item() - expected.item()) < 1e-6
        # the caption loss over the batch's two distinct texts is another number (the 1.060 against 1.087)
        captions = batch_loss(tiny_encoder, clips, texts, FinetuneOptions())
        assert abs(captions.item() - contrastive_loss(video, text[:2], scale, labels).item()) < 1e-6
        assert abs(captions.item() - ours.item()) > 1e-3


@pytest.mark.parametrize("mixup, cutmix", [(0.8, 0.0), (0.0, 1.0), (0.8, 1.0)])
def test_mixed_label_loss_is_soft_cross_entropy_on_the_mixed_targets(tiny_encoder, mixup, cutmix):
    clips, texts = _labelled()
    classes = list(dict.fromkeys(texts))
    batch = [0, 1, 2, 3, 1, 5]
    options = FinetuneOptions(target="label", mixup=mixup, cutmix=cutmix)
    with torch.no_grad():
        ours = batch_loss(
            tiny_encoder,
            [clips[i] for i in batch],
            [texts[i] for i in batch],
            options,
            classes=classes,
            rng=np.random.default_rng(7),
        )
        pixels = torch.stack([tiny_encoder.preprocess(clips[i]) for i in batch])
        labels = torch.tensor(batch)
        # what the same draws do, then the targets by hand: blending.py's smoothed one-hot rows, mixed by lam
        _, _, done = mix_batch(pixels, smoothed_targets(labels, 8, 0.1), mixup, cutmix, np.random.default_rng(7))
        other = torch.as_tensor(done.permutation)
        one_hot = F.one_hot(labels, 8).float() * (1 - 0.1) + 0.1 / 8
        targets = done.lam * one_hot + (1 - done.lam) * one_hot[other]
        if done.kind == "mixup":
            mixed = done.lam * pixels + (1 - done.lam) * pixels[other]
        else:
            x1, y1, x2, y2 = done.box
            mixed = pixels.clone()
            mixed[..., y1:y2, x1:x2] = pixels[other][..., y1:y2, x1:x2]
        video, text, scale = _features(tiny_encoder, mixed, classes)
        expected = -(targets * torch.log_softmax(scale * video @ text.t(), dim=1)).sum(1).mean()
    assert done.kind in ("mixup", "cutmix") and 0 < done.lam < 1
    assert abs(ours.item() - expected.item()) < 1e-6


def test_recipes_fill_what_was_left_open():
    labels, captions = FinetuneOptions(target="label"), FinetuneOptions()
    assert (labels.recipe, labels.warmup_epochs, labels.label_smoothing, labels.mixup, labels.cutmix) == (
        "vificlip",
        5,
        0.1,
        0.8,
        1.0,
    )
    assert (captions.recipe, captions.warmup_epochs, captions.label_smoothing, captions.mixup) == ("vidseek", 1, 0, 0)
    assert FinetuneOptions(recipe="vificlip").mixup == 0  # captions have no classes to mix: the recipe's schedule only
    own = FinetuneOptions(target="label", recipe="vidseek", warmup_epochs=2, mixup=0.4)
    assert (own.warmup_epochs, own.mixup, own.cutmix, own.label_smoothing) == (2, 0.4, 0, 0)
    assert FinetuneOptions(**asdict(labels)) == labels  # what a checkpoint records rebuilds the same options
    with pytest.raises(ValueError, match="need label data"):
        FinetuneOptions(mixup=0.8).check()
    with pytest.raises(ValueError, match="unknown recipe"):
        FinetuneOptions(recipe="clip")
    with pytest.raises(ValueError, match="smoothing"):
        FinetuneOptions(target="label", label_smoothing=1.0).check()


def test_vificlip_schedule_is_the_references_timm_cosine():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=8e-6)
    total, warmup = 60, 10
    timm = CosineLRScheduler(
        optimizer, t_initial=total, lr_min=8e-6 / 100, warmup_lr_init=0, warmup_t=warmup, cycle_limit=1, t_in_epochs=False
    )
    factor = vificlip_schedule(total, warmup)
    for step in range(total + 5):
        assert factor(step) * 8e-6 == pytest.approx(timm._get_lr(step)[0], rel=1e-9, abs=1e-15), step
    assert factor(0) == 0 and factor(warmup) == pytest.approx(0.01 + 0.99 * (1 + math.cos(math.pi / 6)) / 2)


def test_a_vificlip_run_decays_everything_keeps_the_token_table_and_follows_its_schedule(tiny_encoder, tmp_path):
    clips, texts = _labelled()
    before = copy.deepcopy(tiny_encoder.model.state_dict())
    options = FinetuneOptions(epochs=6, batch_size=4, lr=1e-3, target="label")  # 2 steps an epoch, 10 warm-up steps
    history = finetune(tiny_encoder, clips, texts, options, tmp_path / "v.pt")
    assert [round(h["lr"] / 1e-3, 6) for h in history] == [round(vificlip_schedule(12, 10)(s), 6) for s in (2, 4, 6, 8, 10, 12)]
    state = read_training_state(tmp_path / "v.pt")
    decayed, exempt = state["optimizer"]["param_groups"]
    trainable = len(before) - 1  # every parameter but the token table (the model has no buffers)
    assert len(decayed["params"]) == trainable and decayed["weight_decay"] == 1e-3 and exempt["params"] == []
    assert torch.equal(tiny_encoder.model.state_dict()["token_embedding.weight"], before["token_embedding.weight"])
    assert not torch.equal(tiny_encoder.model.state_dict()["logit_scale"], before["logit_scale"])
    assert state["options"]["recipe"] == "vificlip" and state["options"]["target"] == "label"
    assert state["options"]["mixup"] == 0.8 and state["options"]["label_smoothing"] == 0.1


def test_vidseek_recipe_exempts_gains_biases_embeddings_and_the_temperature(tiny_encoder, tmp_path):
    clips, texts = toy_set()
    finetune(tiny_encoder, clips, texts, FinetuneOptions(epochs=1, batch_size=4, lr=1e-4), tmp_path / "c.pt")
    decayed, exempt = read_training_state(tmp_path / "c.pt")["optimizer"]["param_groups"]
    names = [name for name, _ in tiny_encoder.model.named_parameters()]
    assert len(exempt["params"]) == sum(
        1 for name, p in tiny_encoder.model.named_parameters() if p.ndim < 2 or "embedding" in name
    )
    assert len(decayed["params"]) + len(exempt["params"]) == len(names) and exempt["weight_decay"] == 0.0


@pytest.mark.parametrize("recipe, clamped", [("vidseek", True), ("vificlip", False)])
def test_the_temperature_is_clamped_at_100_only_under_our_recipe(tiny_encoder, tmp_path, recipe, clamped):
    with torch.no_grad():
        tiny_encoder.model.logit_scale.fill_(math.log(150.0))
    clips, texts = _labelled()
    finetune(
        tiny_encoder,
        clips,
        texts,
        FinetuneOptions(epochs=1, batch_size=4, lr=1e-5, target="label", recipe=recipe),
        tmp_path / "t.pt",
    )
    scale = tiny_encoder.model.logit_scale.exp().item()
    assert (99.9 < scale <= 100.0 + 1e-4) if clamped else scale > 140


def test_finetuning_on_labels_learns_the_toy_classes(tmp_path):
    from models import load_encoder

    torch.manual_seed(0)
    encoder = load_encoder("vidseek-tiny", "none", "cpu")
    clips, texts = _labelled(seeds=(0, 1))
    classes = list(dict.fromkeys(texts))

    def top1():
        scores = embed_clips(encoder, clips) @ embed_texts(encoder, classes).T
        return float(np.mean([classes[i] == text for i, text in zip(scores.argmax(1), texts)]))

    before = top1()
    history = finetune(
        encoder, clips, texts, FinetuneOptions(epochs=12, batch_size=8, lr=2e-3, target="label"), tmp_path / "l.pt"
    )
    assert before <= 0.375 and top1() == 1.0 and history[-1]["loss"] < 0.7 * history[0]["loss"]


def test_resume_with_mixing_matches_an_uninterrupted_run(_tiny_encoder, tmp_path):
    clips, texts = _labelled()
    options = FinetuneOptions(epochs=3, batch_size=4, lr=1e-3, target="label", warmup_epochs=1)
    straight = copy.deepcopy(_tiny_encoder)
    finetune(straight, clips, texts, options, tmp_path / "straight.pt")

    def stop_in_epoch_two(epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return {}

    with pytest.raises(KeyboardInterrupt):
        finetune(copy.deepcopy(_tiny_encoder), clips, texts, options, tmp_path / "run.pt", on_epoch=stop_in_epoch_two)
    resumed = copy.deepcopy(_tiny_encoder)
    finetune(resumed, clips, texts, options, tmp_path / "run.pt", resume=True)
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=1e-5, atol=1e-6)


def test_label_data_needs_two_classes(tiny_encoder, tmp_path):
    clips, _ = toy_set()
    with pytest.raises(ValueError, match="at least two classes"):
        finetune(tiny_encoder, clips, [CLASSES[0]] * len(clips), FinetuneOptions(target="label"), tmp_path / "x.pt")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_label_data_with_mixing_under_mixed_precision_on_cuda(tmp_path):
    from models import load_encoder

    encoder = load_encoder("vidseek-tiny", "none", "cuda")
    clips, texts = _labelled(seeds=(0, 1))
    history = finetune(
        encoder, clips, texts, FinetuneOptions(epochs=12, batch_size=8, lr=2e-3, target="label"), tmp_path / "g.pt"
    )
    assert np.isfinite(history[-1]["loss"]) and history[-1]["loss"] < history[0]["loss"]
    assert read_training_state(tmp_path / "g.pt")["scaler"]["scale"] > 0
