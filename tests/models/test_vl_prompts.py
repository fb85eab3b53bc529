"""VL prompts ("bridge and prompt"): the prompts change what the model computes and nothing else; training them moves no
CLIP weight; their checkpoint names its base and loads only onto it; the tokenizer adds the placeholders."""

import copy

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from models import PretrainedLoadError, load_encoder
from models.checkpoints import FORMAT_PROMPTS, load_state, read_weights
from models.fusion import video_features
from models.quantize import bfloat16_text_tower, image_encoder_at, quantize_text_tower
from models.vl_prompts import (
    PromptError,
    attach_vl_prompts,
    placeholder_id,
    prepare_prompt_training,
    prompt_encoder,
    save_prompt_checkpoint,
    unprompt_encoder,
)

TOKENS, DEPTH = 4, 2  # vidseek-tiny has 2 layers in each tower: input prompts and one deep layer
QUERIES = ["a dog runs on the beach", "red car", "someone cooking at night in a small kitchen"]


def clips(n=3, t=4, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (t, 72, 96, 3), dtype=np.uint8) for _ in range(n)]


def vectors(encoder):
    return encoder.encode_videos(clips()), encoder.encode_text(QUERIES)


def test_prompts_change_both_towers_and_detaching_restores_the_plain_model_exactly(tiny_encoder):
    plain_video, plain_text = vectors(tiny_encoder)
    prompt_encoder(tiny_encoder, TOKENS, DEPTH)
    video, text = vectors(tiny_encoder)
    assert np.abs(video - plain_video).max() > 1e-3 and np.abs(text - plain_text).max() > 1e-2
    assert tiny_encoder.spec.fingerprint.startswith("none+vl:")
    assert tiny_encoder.spec.prompts == {
        "kind": "vl",
        "tokens": TOKENS,
        "depth": DEPTH,
        "base_pretrained": "none",
        "base_fingerprint": "none",
    }
    unprompt_encoder(tiny_encoder)
    video, text = vectors(tiny_encoder)
    assert np.array_equal(video, plain_video) and np.array_equal(text, plain_text)
    assert tiny_encoder.spec.fingerprint == "none" and tiny_encoder.spec.prompts is None


def train_steps(encoder, steps=3):
    """A plain symmetric InfoNCE over 3 clips and their captions, Adam on what prepare_prompt_training returns."""
    parameters = prepare_prompt_training(encoder, TOKENS, DEPTH)
    optimizer = torch.optim.Adam(parameters, lr=1e-2)
    pixels = torch.stack([encoder.preprocess(torch.as_tensor(c)) for c in clips()])
    tokens = encoder.tokenize(QUERIES)
    for _ in range(steps):
        video = video_features(encoder.model, pixels)
        text = F.normalize(encoder.model.encode_text(tokens), dim=-1)
        logits = encoder.model.logit_scale.exp() * video @ text.T
        target = torch.arange(len(QUERIES))
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return parameters


def test_training_moves_the_prompts_and_leaves_every_clip_weight_bit_identical(tiny_encoder):
    before = {k: v.clone() for k, v in tiny_encoder.model.state_dict().items()}
    prompts_before = [p.detach().clone() for p in prepare_prompt_training(tiny_encoder, TOKENS, DEPTH)]
    parameters = train_steps(tiny_encoder)
    assert len(parameters) == 2 * DEPTH and all(p.requires_grad for p in parameters)
    assert not any(p.requires_grad for p in tiny_encoder.model.parameters())  # logit_scale included
    assert all((p - q).abs().max() > 1e-4 for p, q in zip(parameters, prompts_before))  # every layer's prompts moved
    after = tiny_encoder.model.state_dict()
    assert after.keys() == before.keys()  # the hooks leave the module tree and its keys alone
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.fixture()
def base_file(tmp_path, tiny_encoder):
    path = tmp_path / "bridged.safetensors"  # stands for a fine-tuned ("bridged") CLIP
    save_file({k: v.contiguous() for k, v in tiny_encoder.model.state_dict().items()}, str(path))
    return path


def test_a_prompts_checkpoint_round_trips_onto_its_base(tmp_path, base_file):
    trained = load_encoder("vidseek-tiny", str(base_file), "cpu")
    train_steps(trained)
    path = tmp_path / "prompts.safetensors"
    save_prompt_checkpoint(path, trained, epoch=1)
    loaded = load_encoder("vidseek-tiny", str(path), "cpu")
    assert loaded.spec == trained.spec
    assert loaded.spec.pretrained == str(path.resolve())
    assert loaded.spec.fingerprint.startswith(f"sha256:{read_sha(base_file)}+vl:")
    for ours, theirs in zip(vectors(loaded), vectors(trained)):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)
    described = read_weights(path)
    assert described.format == FORMAT_PROMPTS and described.meta["epoch"] == 1
    summary = "\n".join(described.summary())
    assert (
        "vidseek-prompts" in summary
        and str(base_file.resolve()) in summary
        and trained.spec.prompts["base_fingerprint"] in summary
    )
    with pytest.raises(PretrainedLoadError, match="VL prompts, not CLIP weights"):
        load_state(trained.model, described)


def read_sha(path):
    from models.registry import file_fingerprint

    return file_fingerprint(path).removeprefix("sha256:")


def test_prompts_refuse_a_changed_base_and_follow_a_moved_one(tmp_path, base_file):
    trained = load_encoder("vidseek-tiny", str(base_file), "cpu")
    prepare_prompt_training(trained, TOKENS, DEPTH)
    path = tmp_path / "prompts.safetensors"
    save_prompt_checkpoint(path, trained)
    expected = trained.spec.prompts["base_fingerprint"]
    moved = tmp_path / "elsewhere.safetensors"
    base_file.rename(moved)
    with pytest.raises(PretrainedLoadError, match="--base PATH"):
        load_encoder("vidseek-tiny", str(path), "cpu")
    follows = load_encoder("vidseek-tiny", str(path), "cpu", base=str(moved))
    np.testing.assert_allclose(follows.encode_text(QUERIES), trained.encode_text(QUERIES), atol=1e-6)
    state = read_weights(moved).state
    state["ln_final.weight"] = state["ln_final.weight"] * 1.01
    save_file(state, str(base_file))
    with pytest.raises(PromptError, match=f"fingerprint {expected}"):
        load_encoder("vidseek-tiny", str(path), "cpu")


def test_the_tokenizer_puts_the_placeholders_before_queries_and_labels_alike(tiny_encoder):
    prompt_encoder(tiny_encoder, TOKENS, DEPTH)
    tokens = tiny_encoder.tokenize(["a dog runs", "a photo of a dog."])
    assert (tokens[:, 1 : 1 + TOKENS] == placeholder_id()).all()
    plain = open_clip.get_tokenizer("vidseek-tiny")(["a dog runs", "a photo of a dog."])
    assert torch.equal(tokens[:, 1 + TOKENS :], plain[:, 1:-TOKENS])  # the texts follow the placeholders as they were
    long = " ".join(["dog"] * 100)
    cut = tiny_encoder.tokenize([long])[0]
    assert cut[-1] == plain.max() and (cut[1 + TOKENS : -1] == plain[0, 2]).all()  # cut at its end, end-of-text kept
    # classify() and encode_text() read the same tokens: a label's vector is the query vector of its templated text
    label = tiny_encoder.classify_vector(tiny_encoder.encode_text(["a photo of a dog."])[0], ["dog", "cat"])[0]
    assert label[0] == "dog" and label[1] == pytest.approx(1.0, abs=1e-5)


def test_a_prompted_model_refuses_texts_without_placeholders(tiny_encoder):
    prompt_encoder(tiny_encoder, TOKENS, DEPTH)
    with pytest.raises(PromptError, match="VideoEncoder.tokenize"):
        tiny_encoder.model.encode_text(tiny_encoder.tokenizer(["a dog"]))


def test_the_fast_text_path_agrees_with_open_clip_on_a_prompted_model(tiny_encoder):
    train_steps(tiny_encoder, steps=1)
    tokens = tiny_encoder.tokenize(QUERIES)
    with torch.no_grad():
        np.testing.assert_allclose(tiny_encoder._encode_tokens(tokens), tiny_encoder.model.encode_text(tokens), atol=1e-5)


def test_quantised_copies_carry_the_prompts(tiny_encoder):
    plain_text = tiny_encoder.encode_text(QUERIES)
    train_steps(tiny_encoder, steps=2)
    text, video = tiny_encoder.encode_text(QUERIES), tiny_encoder.encode_videos(clips())
    for cheaper in (quantize_text_tower(tiny_encoder), bfloat16_text_tower(tiny_encoder)):
        assert cheaper.prompts is tiny_encoder.prompts and cheaper.spec == tiny_encoder.spec
        cheap = cheaper.encode_text(QUERIES)
        assert (cheap * text).sum(axis=1).min() > 0.99 > (cheap * plain_text).sum(axis=1).min()
    bf16 = image_encoder_at(tiny_encoder, "bfloat16")
    assert (bf16.encode_videos(clips()) * video).sum(axis=1).min() > 0.99


def test_a_copy_detaches_on_its_own(tiny_encoder):
    prompt_encoder(tiny_encoder, TOKENS, DEPTH)
    text = tiny_encoder.encode_text(QUERIES)
    other = copy.deepcopy(tiny_encoder)
    unprompt_encoder(other)
    np.testing.assert_array_equal(tiny_encoder.encode_text(QUERIES), text)
    assert other.prompts is None and not np.allclose(other.encode_text(QUERIES), text)


def test_models_it_cannot_prompt_are_refused(tiny_encoder):
    with pytest.raises(PromptError, match="depth must be 1 .. 2"):
        prompt_encoder(tiny_encoder, TOKENS, 3)
    with pytest.raises(PromptError, match="tokens must be 1 .. 74"):
        prompt_encoder(tiny_encoder, 75, DEPTH)
    resnet = open_clip.CLIP(
        embed_dim=32,
        vision_cfg={"layers": [1, 1, 1, 1], "width": 16, "image_size": 64},
        text_cfg={"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
    )
    with pytest.raises(PromptError, match="ViT image tower"):
        attach_vl_prompts(resnet, TOKENS, 1)
    prompt_encoder(tiny_encoder, TOKENS, DEPTH)
    with pytest.raises(PromptError, match="prompted already"):
        prompt_encoder(tiny_encoder, TOKENS, DEPTH)


def test_prompts_sit_where_vificlip_puts_them(tiny_encoder):
    """Both towers by hand, as the reference computes them: vision prompts appended after the positional embedding (none
    of their own) before ln_pre, text prompts in place of the placeholders (with their positions), and fresh ones
    replacing those tokens at the input of every deeper layer."""
    prompts = prompt_encoder(tiny_encoder, TOKENS, DEPTH)
    tokens = tiny_encoder.tokenize(["a dog"])
    prompts.detach()  # by hand, on the plain modules
    m, n = tiny_encoder.model, TOKENS
    image = torch.randn(2, 3, 64, 64)
    v = m.visual
    x = v.conv1(image).flatten(2).transpose(1, 2)
    x = torch.cat([v.class_embedding.expand(2, 1, -1), x], dim=1) + v.positional_embedding
    x = v.ln_pre(torch.cat([x, prompts.vision[0].expand(2, -1, -1)], dim=1))
    for layer, block in enumerate(v.transformer.resblocks):
        if layer:
            x = torch.cat([x[:, :-n], prompts.vision[layer].expand(2, -1, -1)], dim=1)
        x = block(x)
    by_hand = v.ln_post(x[:, 0]) @ v.proj
    t = m.token_embedding(tokens.masked_fill(tokens == placeholder_id(), 0))  # the placeholders' embeddings never count
    t = torch.cat([t[:, :1], prompts.text[0][None], t[:, 1 + n :]], dim=1) + m.positional_embedding
    for layer, block in enumerate(m.transformer.resblocks):
        if layer:
            t = torch.cat([t[:, :1], prompts.text[layer][None], t[:, 1 + n :]], dim=1)
        t = block(t, attn_mask=m.attn_mask)
    text_by_hand = m.ln_final(t)[0, tokens.argmax()] @ m.text_projection
    with torch.no_grad():
        prompts.install(m)
        np.testing.assert_allclose(m.encode_image(image), by_hand.detach(), atol=1e-5)
        np.testing.assert_allclose(m.encode_text(tokens)[0], text_by_hand.detach(), atol=1e-5)
