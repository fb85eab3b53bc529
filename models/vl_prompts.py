"""Deep vision-language prompts (ViFi-CLIP's "bridge and prompt", their IVLP design) for open_clip ``CLIP`` models.

Learnable tokens in both towers, at the input and at the input of each of the first ``depth`` layers, the only
trained parameters on a frozen CLIP. Facts from the reference (muzairkhattak/ViFi-CLIP, ``trainers/vificlip.py``
and ``clip/model.py``), which we follow:

* text: ``tokens`` context vectors replace the embeddings of as many placeholder ``X`` tokens right after
  start-of-text (the text reads ``X X ... X {label}.``); they get the positional embeddings of their positions;
* vision: ``tokens`` vectors appended to the patch sequence after the positional embedding and before ``ln_pre``,
  with no positional embedding; the image is still read off the class token;
* deep prompting: at the input of layers 1 .. depth-1 the prompt tokens the previous layer produced are replaced by
  fresh learnable ones (layer 0 reads the input prompts);
* every prompt starts as normal(std 0.02). (Their text context starts from the words of ``CTX_INIT`` only when it
  has at most 4 tokens; their configs use 10 or 16.) Their few-shot configs: 10 tokens, depth 12 in both towers.

The prompts go in through forward hooks on open_clip's own modules (``token_embedding``, ``visual.patch_dropout``,
the residual blocks), not by wrapping or replacing them: the model's modules and state-dict keys stay exactly as
they were, so a frozen CLIP compares, saves and quantises as before, and :meth:`VLPrompts.detach` restores it.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import replace
from pathlib import Path

import open_clip
import torch
from open_clip.transformer import VisionTransformer
from torch import nn

from models.checkpoints import save_prompts_file
from models.errors import ModelError

KIND = "vl"
PLACEHOLDER = "X"  # the reference's placeholder word: one BPE token in CLIP's vocabulary
INIT_STD = 0.02  # the reference's initialisation of every prompt
DEFAULT_TOKENS = 10  # the reference's few-shot configs (N_CTX_VISION / N_CTX_TEXT)
DEFAULT_DEPTH = 12  # (PROMPT_DEPTH_VISION / PROMPT_DEPTH_TEXT)


class PromptError(ModelError):
    """The model cannot take these prompts, or prompted texts were tokenised without their placeholders."""


@functools.cache
def placeholder_id() -> int:
    """The token id of :data:`PLACEHOLDER` in open_clip's CLIP tokenizer."""
    return int(open_clip.tokenize([PLACEHOLDER])[0, 1])


class VLPrompts(nn.Module):
    """The prompt parameters: ``text[i]`` / ``vision[i]`` [tokens, width] enter layer ``i`` (0: the input)."""

    def __init__(self, tokens: int, depth: int, text_width: int, vision_width: int, placeholder: int | None = None):
        super().__init__()
        self.tokens, self.depth = tokens, depth
        self.placeholder = placeholder_id() if placeholder is None else placeholder
        self.text = nn.ParameterList([nn.Parameter(torch.randn(tokens, text_width) * INIT_STD) for _ in range(depth)])
        self.vision = nn.ParameterList([nn.Parameter(torch.randn(tokens, vision_width) * INIT_STD) for _ in range(depth)])
        self._handles: list = []

    @property
    def attached(self) -> bool:
        return bool(self._handles)

    def describe(self) -> dict:
        """What an index manifest records of the prompts (beside the fingerprint)."""
        return {"kind": KIND, "tokens": self.tokens, "depth": self.depth}

    def fingerprint(self) -> str:
        """``vl:<sha256>`` of the prompt values (float32) with their shape: two encoders share it only if they prompt alike."""
        digest = hashlib.sha256(f"{KIND}:{self.tokens}:{self.depth}".encode())
        for name, value in sorted(self.state_dict().items()):
            digest.update(name.encode())
            digest.update(value.detach().to(torch.float32).cpu().contiguous().numpy().tobytes())
        return f"{KIND}:{digest.hexdigest()}"

    def text_prefix(self) -> str:
        """What goes before each text so that the placeholders sit right after start-of-text."""
        return f"{PLACEHOLDER} " * self.tokens

    def install(self, model: nn.Module) -> VLPrompts:
        """Hook the prompts into ``model`` (checked by :func:`check_promptable`); returns ``self``."""
        if self.attached:
            raise PromptError("these prompts are attached to a model already; detach them first")
        check_promptable(model, self.tokens, self.depth)
        text_first = model.transformer.batch_first
        vision_first = model.visual.transformer.batch_first
        self._handles = [
            model.token_embedding.register_forward_hook(self._text_input),
            model.visual.patch_dropout.register_forward_hook(self._vision_input),
        ]
        for layer in range(1, self.depth):
            text_hook = functools.partial(self._deep_prompt, "text", layer, 1 if text_first else 0)
            vision_hook = functools.partial(self._deep_prompt, "vision", layer, 1 if vision_first else 0)
            self._handles.append(model.transformer.resblocks[layer].register_forward_pre_hook(text_hook))
            self._handles.append(model.visual.transformer.resblocks[layer].register_forward_pre_hook(vision_hook))
        return self

    def detach(self) -> None:
        """Remove the hooks: the model computes exactly what it computed before :meth:`install`."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _text_input(self, module: nn.Module, args: tuple, embedded: torch.Tensor) -> torch.Tensor:
        tokens = args[0]
        n = self.tokens
        if tokens.shape[1] < n + 2 or not bool((tokens[:, 1 : 1 + n] == self.placeholder).all()):
            raise PromptError(
                f"the text tower is prompted ({n} tokens): texts must be tokenised with VideoEncoder.tokenize, "
                f"which puts {n} placeholders {PLACEHOLDER!r} right after start-of-text"
            )
        return _splice(embedded, self.text[0], 1, seq_dim=1)

    def _vision_input(self, module: nn.Module, args: tuple, patches: torch.Tensor) -> torch.Tensor:
        return torch.cat([patches, _batched(self.vision[0], patches, seq_dim=1)], dim=1)

    def _deep_prompt(self, branch: str, layer: int, seq_dim: int, module: nn.Module, args: tuple) -> tuple:
        x = args[0]
        start = 1 if branch == "text" else x.shape[seq_dim] - self.tokens
        prompts = self.text if branch == "text" else self.vision
        return (_splice(x, prompts[layer], start, seq_dim), *args[1:])


def _batched(prompt: torch.Tensor, x: torch.Tensor, seq_dim: int) -> torch.Tensor:
    """``prompt`` [N, D] as a block of ``x``'s batch, in ``x``'s dtype and device."""
    prompt = prompt.to(device=x.device, dtype=x.dtype)
    batch = x.shape[1 - seq_dim]
    return prompt.unsqueeze(0).expand(batch, -1, -1) if seq_dim == 1 else prompt.unsqueeze(1).expand(-1, batch, -1)


def _splice(x: torch.Tensor, prompt: torch.Tensor, start: int, seq_dim: int) -> torch.Tensor:
    """``x`` with its tokens ``start .. start+N`` replaced by ``prompt`` (differentiable, ``x`` untouched)."""
    n = prompt.shape[0]
    after = x.shape[seq_dim] - start - n
    return torch.cat([x.narrow(seq_dim, 0, start), _batched(prompt, x, seq_dim), x.narrow(seq_dim, start + n, after)], seq_dim)


def check_promptable(model: nn.Module, tokens: int, depth: int) -> None:
    """Refuse (:class:`PromptError`) a model these prompts cannot go into, saying why."""
    if not isinstance(model, open_clip.CLIP) or not isinstance(model.visual, VisionTransformer):
        raise PromptError(
            f"VL prompts need an open_clip CLIP with a ViT image tower and the CLIP text transformer, not {type(model).__name__}"
            + (f" with a {type(model.visual).__name__} image tower" if hasattr(model, "visual") else "")
        )
    visual = model.visual
    if visual.attn_pool is not None or visual.pool_type != "tok":
        raise PromptError(f"VL prompts need an image tower read off its class token (this one pools {visual.pool_type!r})")
    if model.text_pool_type != "argmax":
        raise PromptError(f"VL prompts need a text tower read at end-of-text (this one pools {model.text_pool_type!r})")
    layers = min(len(model.transformer.resblocks), len(visual.transformer.resblocks))
    if not 1 <= depth <= layers:
        raise PromptError(f"prompt depth must be 1 .. {layers} (the layers of this model's shallower tower), not {depth}")
    most = model.context_length - 3  # start-of-text, at least one token of text, end-of-text
    if not 1 <= tokens <= most:
        raise PromptError(f"prompt tokens must be 1 .. {most} (a text context of {model.context_length}), not {tokens}")


def attach_vl_prompts(model: nn.Module, tokens: int = DEFAULT_TOKENS, depth: int = DEFAULT_DEPTH) -> VLPrompts:
    """New prompts (normal, std 0.02, from torch's RNG) hooked into ``model``, on its device, in float32."""
    check_promptable(model, tokens, depth)
    prompts = VLPrompts(tokens, depth, model.token_embedding.embedding_dim, model.visual.transformer.width)
    return prompts.to(next(model.parameters()).device).install(model)


# --- The encoder-level API: what fine-tuning, the factory and the CLI call. ------------------------------------------


def prompt_encoder(encoder, tokens: int = DEFAULT_TOKENS, depth: int = DEFAULT_DEPTH, state=None) -> VLPrompts:
    """Attach new prompts (or ``state``, a :meth:`VLPrompts.state_dict`) to ``encoder``: its model, its tokenizer
    (:meth:`VideoEncoder.tokenize` adds the placeholders) and its spec (fingerprint ``<base>+vl:<hash>``)."""
    if encoder.prompts is not None:
        raise PromptError("the encoder is prompted already; a prompted model cannot take a second set of prompts")
    ids = encoder.tokenizer([f"{PLACEHOLDER} " * tokens])[0]
    if len(ids) < tokens + 2 or not bool((ids[1 : 1 + tokens] == placeholder_id()).all()):
        raise PromptError(f"the tokenizer of {encoder.spec.name} does not spell {PLACEHOLDER!r} as CLIP's one token")
    prompts = attach_vl_prompts(encoder.model, tokens, depth)
    if state is not None:
        try:
            prompts.load_state_dict(state)
        except RuntimeError as exc:  # missing keys or shapes that do not fit this model
            prompts.detach()
            raise PromptError(f"the prompts do not fit {encoder.spec.name}: {exc}") from exc
    encoder.prompts = prompts
    encoder.spec = prompted_spec(encoder.spec, prompts)
    return prompts


def unprompt_encoder(encoder) -> None:
    """Detach ``encoder``'s prompts: it computes what its base computes, under the base's spec again."""
    if encoder.prompts is not None:
        encoder.prompts.detach()
        encoder.prompts = None
        encoder.spec = base_spec(encoder.spec)


def prompted_spec(base, prompts: VLPrompts, pretrained: str | None = None):
    """The :class:`~models.factory.ModelSpec` of ``base``'s model with ``prompts``; ``pretrained`` (the prompts file,
    once saved) is what an index records to load it again, the base otherwise."""
    described = {**prompts.describe(), "base_pretrained": base.pretrained, "base_fingerprint": base.fingerprint}
    fingerprint = f"{base.fingerprint}+{prompts.fingerprint()}"
    return replace(base, pretrained=pretrained or base.pretrained, fingerprint=fingerprint, prompts=described)


def base_spec(spec):
    """The spec of the model a prompted ``spec`` was prompted on."""
    if not spec.prompts:
        return spec
    return replace(spec, pretrained=spec.prompts["base_pretrained"], fingerprint=spec.prompts["base_fingerprint"], prompts=None)


def prepare_prompt_training(encoder, tokens: int = DEFAULT_TOKENS, depth: int = DEFAULT_DEPTH) -> list[nn.Parameter]:
    """Freeze every CLIP weight (``logit_scale`` included) and return the prompt parameters, the only ones to train.

    Attaches new prompts, or keeps the ones ``encoder`` has when they have this shape (training on from a prompts
    checkpoint). Train with the texts of :meth:`VideoEncoder.tokenize` and the model's own ``encode_image`` /
    ``encode_text`` (:func:`models.fusion.video_features`); save with :func:`save_prompt_checkpoint`.
    """
    prompts = encoder.prompts
    if prompts is None:
        prompts = prompt_encoder(encoder, tokens, depth)
    elif (prompts.tokens, prompts.depth) != (tokens, depth):
        raise PromptError(
            f"the encoder has prompts of {prompts.tokens} tokens, depth {prompts.depth}; asked for {tokens}, depth {depth}"
        )
    encoder.model.requires_grad_(False)
    prompts.requires_grad_(True)
    return list(prompts.parameters())


def save_prompt_checkpoint(path, encoder, **meta) -> None:
    """Write ``encoder``'s prompts as a ``vidseek-prompts`` checkpoint: the prompts, their shape, the base (model name,
    ``--pretrained`` value, weights fingerprint) and ``meta`` (plain data: epoch, options ...). ``encoder``'s spec then
    names the file, as the spec of ``load_encoder(name, path)`` does."""
    prompts = encoder.prompts
    if prompts is None:
        raise PromptError("the encoder has no prompts to save (prepare_prompt_training attaches them)")
    base = base_spec(encoder.spec)
    path = Path(path)
    save_prompts_file(
        path,
        prompts.state_dict(),
        model_name=base.name,
        prompts=prompts.describe(),
        base_pretrained=base.pretrained,
        base_fingerprint=base.fingerprint,
        **meta,
    )
    encoder.spec = prompted_spec(base, prompts, pretrained=str(path.resolve()))
