"""VL prompt training (the paper's "bridge and prompt"): only the prompts move, the checkpoint holds them and their
base, and an interrupted run resumes to the same prompts."""

import copy
import math

import numpy as np
import pytest
import torch

from models import load_encoder
from models.checkpoints import read_training_state, read_weights
from models.evaluate import embed_clips, embed_texts
from models.finetune import FinetuneOptions, ResumeMismatchError, finetune
from models.recipes import PROMPT_LR
from models.vl_prompts import DEFAULT_DEPTH, DEFAULT_TOKENS
from tests.models.test_finetune import toy_set

LABELS = ["red", "green", "blue", "yellow", "white", "black", "purple", "orange"]


def prompt_options(**overrides) -> FinetuneOptions:
    values = {"epochs": 2, "batch_size": 4, "target": "label", "prompts": "vl", "prompt_tokens": 2, "prompt_depth": 2}
    return FinetuneOptions(**{**values, **overrides})


def test_prompt_options_take_the_reference_defaults():
    options = FinetuneOptions(target="label", prompts="vl")
    assert (options.prompt_tokens, options.prompt_depth) == (DEFAULT_TOKENS, DEFAULT_DEPTH) == (10, 12)
    assert options.lr == PROMPT_LR == 8e-3 and FinetuneOptions().lr == 8e-6
    assert options.recipe == "vificlip" and options.label_smoothing == 0.1  # the recipe is the same as fine-tuning's
    with pytest.raises(ValueError, match="--freeze"):
        FinetuneOptions(prompts="vl", freeze="text").check()
    with pytest.raises(ValueError, match="--prompts takes vl"):
        FinetuneOptions(prompts="deep").check()
    with pytest.raises(ValueError, match=">= 1"):
        FinetuneOptions(prompts="vl", prompt_depth=0).check()


def test_prompt_training_moves_only_the_prompts(tiny_encoder, tmp_path):
    clips, _ = toy_set()
    texts = [f"a video of {name}." for name in LABELS]
    before = copy.deepcopy(tiny_encoder.model.state_dict())
    base_fingerprint = tiny_encoder.spec.fingerprint
    history = finetune(tiny_encoder, clips, texts, prompt_options(epochs=3), tmp_path / "p.safetensors")
    after = tiny_encoder.model.state_dict()
    assert after.keys() == before.keys()
    unchanged = [key for key in before if torch.equal(before[key], after[key])]
    assert unchanged == list(before)  # every CLIP weight bit-identical, logit_scale and the token table included
    assert len(history) == 3 and all(math.isfinite(h["loss"]) for h in history)
    prompts = tiny_encoder.prompts
    assert prompts is not None and (prompts.tokens, prompts.depth) == (2, 2)
    assert not tiny_encoder.model.training  # ready to use

    written = read_weights(tmp_path / "p.safetensors")
    assert written.format == "vidseek-prompts"
    assert written.meta["base_pretrained"] == "none" and written.meta["base_fingerprint"] == base_fingerprint
    assert written.meta["epoch"] == 3 and read_training_state(tmp_path / "p.safetensors")["options"]["prompts"] == "vl"
    initial = torch.Generator().manual_seed(0)  # the prompts start as normal(0.02) from the run's seed: they moved
    assert any(not torch.equal(value, torch.randn(value.shape, generator=initial) * 0.02) for value in written.state.values())

    spec = tiny_encoder.spec
    assert spec.fingerprint.startswith(base_fingerprint + "+vl:") and spec.pretrained == str(
        (tmp_path / "p.safetensors").resolve()
    )
    loaded = load_encoder("vidseek-tiny", str(tmp_path / "p.safetensors"), "cpu")  # base "none" rebuilt, seeded
    assert loaded.spec.fingerprint == spec.fingerprint and loaded.spec.prompts == spec.prompts
    np.testing.assert_array_equal(embed_clips(loaded, clips), embed_clips(tiny_encoder, clips))
    np.testing.assert_array_equal(embed_texts(loaded, LABELS), embed_texts(tiny_encoder, LABELS))
    assert not np.allclose(embed_clips(loaded, clips), embed_clips(load_encoder("vidseek-tiny", "none", "cpu"), clips))


def test_our_recipe_does_not_clamp_a_frozen_temperature(tiny_encoder, tmp_path):
    """The vidseek recipe clamps the logit scale at 100 after each step; with prompts it is CLIP's, frozen."""
    with torch.no_grad():
        tiny_encoder.model.logit_scale.fill_(math.log(150.0))
    before = tiny_encoder.model.logit_scale.detach().clone()
    clips, texts = toy_set()
    finetune(tiny_encoder, clips, texts, prompt_options(target="caption", epochs=1), tmp_path / "c.safetensors")
    assert torch.equal(tiny_encoder.model.logit_scale.detach(), before)


def test_training_on_from_a_prompts_checkpoint(tiny_encoder, tmp_path):
    clips, _ = toy_set()
    texts = [f"a video of {name}." for name in LABELS]
    finetune(tiny_encoder, clips, texts, prompt_options(epochs=1), tmp_path / "first.safetensors")
    again = load_encoder("vidseek-tiny", str(tmp_path / "first.safetensors"), "cpu")
    first = {k: v.clone() for k, v in again.prompts.state_dict().items()}
    finetune(again, clips, texts, prompt_options(epochs=1, seed=1), tmp_path / "second.safetensors")
    second = read_weights(tmp_path / "second.safetensors")
    assert second.meta["base_pretrained"] == "none"  # the base, not the first prompts file
    assert any(not torch.equal(first[k], second.state[k]) for k in first)
    with pytest.raises(Exception, match="prompts of 2 tokens"):
        finetune(again, clips, texts, prompt_options(epochs=1, prompt_tokens=3), tmp_path / "third.safetensors")


def test_resumed_prompt_training_matches_an_uninterrupted_run(_tiny_encoder, tmp_path):
    clips, _ = toy_set(seed=1)
    texts = [f"a video of {name}." for name in LABELS]
    options = prompt_options(epochs=3)
    straight = copy.deepcopy(_tiny_encoder)
    finetune(straight, clips, texts, options, tmp_path / "straight.safetensors")

    def stop_in_epoch_two(epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return {}

    with pytest.raises(KeyboardInterrupt):
        finetune(copy.deepcopy(_tiny_encoder), clips, texts, options, tmp_path / "run.safetensors", on_epoch=stop_in_epoch_two)
    assert read_training_state(tmp_path / "run.safetensors")["epoch"] == 1
    resumed = copy.deepcopy(_tiny_encoder)  # a new process: the base only; the prompts come from the checkpoint
    history = finetune(resumed, clips, texts, options, tmp_path / "run.safetensors", resume=True)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    for key, value in straight.prompts.state_dict().items():
        torch.testing.assert_close(resumed.prompts.state_dict()[key], value, rtol=1e-5, atol=1e-6)
    assert resumed.spec.prompts == straight.spec.prompts

    finetune(copy.deepcopy(_tiny_encoder), clips, texts, FinetuneOptions(epochs=1, batch_size=4), tmp_path / "full.pt")
    with pytest.raises(ResumeMismatchError, match="vidseek-finetune checkpoint"):
        finetune(copy.deepcopy(_tiny_encoder), clips, texts, options, tmp_path / "full.pt", resume=True)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_prompt_training_in_mixed_precision_on_cuda(tmp_path):
    encoder = load_encoder("vidseek-tiny", "none", "cuda")
    before = {k: v.clone() for k, v in encoder.model.state_dict().items()}
    clips, _ = toy_set()
    texts = [f"a video of {name}." for name in LABELS]
    history = finetune(encoder, clips, texts, prompt_options(epochs=3), tmp_path / "gpu.safetensors")
    assert all(math.isfinite(h["loss"]) for h in history)
    assert all(torch.equal(before[k], v) for k, v in encoder.model.state_dict().items())
    assert read_training_state(tmp_path / "gpu.safetensors")["scaler"] is not None  # the fp16 scaler's state, to resume
