"""Fine-tuning: the loss, the schedule, freezing, fusion, learning on a toy set, and resuming."""

import copy
import json

import numpy as np
import pytest
import torch

from models import load_encoder
from models.checkpoints import read_training_state, read_weights
from models.evaluate import embed_clips, embed_texts
from models.finetune import FinetuneOptions, ResumeMismatchError, finetune
from models.fusion import video_features
from models.losses import contrastive_loss
from models.metrics import retrieval_metrics
from models.recipes import cosine_with_warmup

COLOURS = {
    "red": (230, 20, 20),
    "green": (20, 200, 40),
    "blue": (20, 40, 230),
    "yellow": (240, 230, 20),
    "white": (250, 250, 250),
    "black": (5, 5, 5),
    "purple": (150, 40, 190),
    "orange": (250, 140, 20),
}


def toy_set(frames=2, size=64, seed=0):
    """One clip per colour (with noise), captioned by its colour."""
    rng = np.random.default_rng(seed)
    clips, texts = [], []
    for name, rgb in COLOURS.items():
        clip = np.empty((frames, size, size, 3), dtype=np.uint8)
        clip[:] = rgb
        noise = rng.integers(-20, 21, clip.shape)
        clips.append(np.clip(clip + noise, 0, 255).astype(np.uint8))
        texts.append(f"a {name} screen")
    return clips, texts


def t2v_r1(encoder, clips, texts):
    return retrieval_metrics(embed_texts(encoder, texts), embed_clips(encoder, clips), np.eye(len(texts), dtype=bool))["t2v_r1"]


def test_loss_with_distinct_captions_is_clips_loss():
    torch.manual_seed(0)
    video = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    text = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    scale = torch.tensor(10.0)
    logits = scale * video @ text.t()
    target = torch.arange(4)
    reference = (torch.nn.functional.cross_entropy(logits, target) + torch.nn.functional.cross_entropy(logits.t(), target)) / 2
    assert contrastive_loss(video, text, scale, target).item() == pytest.approx(reference.item(), rel=1e-6)


def test_equal_labels_are_not_negatives():
    """Videos 0 and 2 share a text: video->text is cross-entropy over the batch's 2 distinct texts, text->video
    spreads text 0's target over both of its videos (the caption loss; label data trains over all classes)."""
    torch.manual_seed(1)
    video = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1)
    labels = torch.nn.functional.normalize(torch.randn(2, 8), dim=-1)
    index = torch.tensor([0, 1, 0])
    scale = torch.tensor(20.0)
    logits = scale * video @ labels.t()
    v2t = torch.nn.functional.cross_entropy(logits, index)
    t2v_rows = torch.log_softmax(logits.t(), dim=1)
    t2v = -((t2v_rows[0, 0] + t2v_rows[0, 2]) / 2 + t2v_rows[1, 1]) / 2
    assert contrastive_loss(video, labels, scale, index).item() == pytest.approx(((v2t + t2v) / 2).item(), rel=1e-6)
    # a clip embedded exactly like its label loses nothing to its same-label neighbour in the batch
    perfect = contrastive_loss(labels[index], labels, torch.tensor(100.0), index)
    per_sample = contrastive_loss(labels[index], labels[index], torch.tensor(100.0), torch.arange(3))  # duplicates as negatives
    assert perfect.item() < 0.5 * per_sample.item()


def test_cosine_schedule_with_warmup():
    factor = cosine_with_warmup(total_steps=100, warmup_steps=10)
    values = [factor(s) for s in range(100)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(values[:10], values[1:10]))
    assert all(a >= b for a, b in zip(values[9:], values[10:]))
    assert values[-1] < 0.01


def test_fusions(tiny_encoder):
    clip = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    pixels = tiny_encoder.preprocess(clip)[None]
    model = tiny_encoder.model
    with torch.no_grad():
        frames = model.encode_image(pixels[0])
        embedding = video_features(model, pixels, "embedding")[0]
        decision = video_features(model, pixels, "decision")[0]
        image = video_features(model, pixels, "image")[0]
        torch.testing.assert_close(embedding, torch.nn.functional.normalize(frames.mean(0), dim=-1))
        torch.testing.assert_close(decision, torch.nn.functional.normalize(frames, dim=-1).mean(0))
        torch.testing.assert_close(
            image, torch.nn.functional.normalize(model.encode_image(pixels[0].mean(0, keepdim=True))[0], dim=-1)
        )
        np.testing.assert_allclose(embedding.numpy(), tiny_encoder.encode_video(clip), atol=1e-6)
        for fusion in ("embedding", "decision", "image"):  # all order-free: time reversal is invisible
            reversed_pixels = pixels.flip(1)
            torch.testing.assert_close(video_features(model, reversed_pixels, fusion), video_features(model, pixels, fusion))
    with pytest.raises(ValueError, match="unknown fusion"):
        video_features(model, pixels, "late")


def test_finetuning_learns_a_toy_set(tmp_path):
    torch.manual_seed(0)  # its own random init, whatever ran before (learns from seeds 0, 1 and 2 alike)
    tiny_encoder = load_encoder("vidseek-tiny", "none", "cpu")
    clips, texts = toy_set()
    before = t2v_r1(tiny_encoder, clips, texts)
    options = FinetuneOptions(epochs=40, batch_size=8, lr=2e-3, warmup_epochs=2)
    history = finetune(tiny_encoder, clips, texts, options, tmp_path / "toy.pt", log_path=tmp_path / "toy.log.json")
    after = t2v_r1(tiny_encoder, clips, texts)
    assert before <= 0.375 and after == 1.0  # chance: 0.125
    assert history[-1]["loss"] < 0.5 * history[0]["loss"] and len(history) == 40
    assert json.loads((tmp_path / "toy.log.json").read_text())["epochs"][-1]["epoch"] == 40
    loaded = load_encoder("vidseek-tiny", str(tmp_path / "toy.pt"), "cpu")  # the checkpoint is a --pretrained file
    assert read_weights(tmp_path / "toy.pt").format == "vidseek-finetune"
    np.testing.assert_allclose(embed_clips(loaded, clips), embed_clips(tiny_encoder, clips), atol=1e-5)
    assert all(p.requires_grad for p in tiny_encoder.model.parameters())


@pytest.mark.parametrize("freeze", ["text", "image"])
def test_freezing_one_tower(tiny_encoder, tmp_path, freeze):
    before = copy.deepcopy(tiny_encoder.model.state_dict())
    clips, texts = toy_set()
    finetune(tiny_encoder, clips, texts, FinetuneOptions(epochs=2, batch_size=4, lr=1e-3, freeze=freeze), tmp_path / "f.pt")
    after = tiny_encoder.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    visual = {k for k in changed if k.startswith("visual.")}
    if freeze == "text":  # image-FT: only the image tower (and the temperature) move
        assert visual and changed - visual == {"logit_scale"}
    else:  # text-FT
        assert not visual and "text_projection" in changed


def test_resume_after_an_interruption_matches_an_uninterrupted_run(_tiny_encoder, tmp_path):
    clips, texts = toy_set(seed=1)
    options = FinetuneOptions(epochs=3, batch_size=4, lr=1e-3)
    straight = copy.deepcopy(_tiny_encoder)
    finetune(straight, clips, texts, options, tmp_path / "straight.pt")

    interrupted = copy.deepcopy(_tiny_encoder)

    def stop_in_epoch_two(epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return {}

    with pytest.raises(KeyboardInterrupt):
        finetune(interrupted, clips, texts, options, tmp_path / "run.pt", on_epoch=stop_in_epoch_two)
    assert read_weights(tmp_path / "run.pt").meta["epoch"] == 1

    resumed = copy.deepcopy(_tiny_encoder)  # a new process: fresh weights, everything comes from the checkpoint
    history = finetune(resumed, clips, texts, options, tmp_path / "run.pt", resume=True)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=1e-5, atol=1e-6)

    with pytest.raises(ResumeMismatchError, match="written for 8 training clips, not 4"):
        finetune(copy.deepcopy(_tiny_encoder), clips[:4], texts[:4], options, tmp_path / "run.pt", resume=True)


def test_gradient_accumulation_steps_once_per_n_batches(tiny_encoder, tmp_path):
    clips, texts = toy_set()
    for accumulation, steps in ((1, 4), (2, 2), (3, 2)):  # 4 batches of 2; a last partial group still steps
        options = FinetuneOptions(epochs=1, batch_size=2, lr=1e-4, accumulation=accumulation)
        finetune(copy.deepcopy(tiny_encoder), clips, texts, options, tmp_path / f"acc{accumulation}.pt")
        state = read_training_state(tmp_path / f"acc{accumulation}.pt")
        assert state["lr_scheduler"]["last_epoch"] == steps


def test_bad_options():
    with pytest.raises(ValueError, match="freeze"):
        FinetuneOptions(freeze="both").check()
    with pytest.raises(ValueError, match="batch size"):
        FinetuneOptions(batch_size=1).check()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_mixed_precision_on_cuda(tmp_path):
    encoder = load_encoder("vidseek-tiny", "none", "cuda")
    clips, texts = toy_set()
    history = finetune(encoder, clips, texts, FinetuneOptions(epochs=20, batch_size=8, lr=2e-3), tmp_path / "gpu.pt")
    assert np.isfinite(history[-1]["loss"]) and history[-1]["loss"] < history[0]["loss"]
    assert read_training_state(tmp_path / "gpu.pt")["scaler"]["scale"] > 0
