"""The ViFi-CLIP video encoder: every frame through the CLIP image encoder, mean-pooled, L2-normalised.

Texts go through the CLIP text encoder into the same space, so a cosine (a dot product of the
normalised vectors) ranks clips for a query and labels for a clip.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import open_clip
import torch
import torch.nn.functional as F

from models.fusion import video_features
from models.preprocess import Preprocess
from models.prompts import DEFAULT_TEMPLATE

if TYPE_CHECKING:
    from models.factory import ModelSpec
    from models.vl_prompts import VLPrompts


class VideoEncoder:
    """Frame-pooled CLIP over an open_clip model; every output vector is float32 and unit-length."""

    # What runs each tower: torch here; models.engines makes encoders whose towers run exported graphs instead.
    image_engine = "torch"
    text_engine = "torch"

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        preprocess: Preprocess,
        spec: "ModelSpec",
        device: str,
        prompts: "VLPrompts | None" = None,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.preprocess = preprocess
        self.spec = spec
        self.device = device
        self.prompts = prompts  # VL prompts hooked into ``model`` (models.vl_prompts), or None

    @property
    def dim(self) -> int:
        return (
            int(self.model.text_projection.shape[1])
            if hasattr(self.model, "text_projection")
            else int(self.model.visual.output_dim)
        )

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.detach().exp().clamp(max=100).item())

    @property
    def image_dtype(self) -> torch.dtype:
        """The dtype of the image tower's weights (float32, or bfloat16 from models.quantize.image_encoder_at)."""
        return next(self.model.visual.parameters()).dtype

    @property
    def image_precision(self) -> str:
        """What the image tower computes in: ``float32``, ``bfloat16`` (models.quantize), ``int8`` (models.engines)."""
        return str(self.image_dtype).removeprefix("torch.")

    def _autocast(self):
        if self.device.startswith("cuda"):
            return torch.autocast("cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    def encode_video(self, frames: np.ndarray) -> np.ndarray:
        """One clip: uint8 frames [T, H, W, 3] -> its unit vector [D]."""
        return self.encode_videos([frames])[0]

    def encode_videos(self, clips: Sequence[np.ndarray] | np.ndarray, fusion: str = "embedding") -> np.ndarray:
        """A batch of clips, each [T, H, W, 3] uint8 with the same T (frame sizes may differ) -> [B, D].

        ``fusion`` is how frames become one vector (:mod:`models.fusion`); the default is ViFi-CLIP's.
        """
        if len(clips) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        with torch.inference_mode(), self._autocast():
            pixels = torch.stack([self.preprocess(self._to_device(clip)) for clip in clips])  # [B, T, 3, S, S]
            # On CUDA autocast picks the dtype; on CPU the pixels must match the image tower's weights.
            if not self.device.startswith("cuda"):
                pixels = pixels.to(self.image_dtype)
            return video_features(self.model, pixels, fusion).float().cpu().numpy()

    def _to_device(self, clip: np.ndarray) -> torch.Tensor:
        """A clip's uint8 frames on the model's device, to be preprocessed there: to a GPU they go as uint8 (a quarter
        of the float pixels' bytes) from pinned memory, so the copy runs asynchronously and the resize, crop and
        normalisation that follow run on the GPU."""
        frames = torch.as_tensor(clip)
        if self.device.startswith("cuda"):
            frames = frames.pin_memory().to(self.device, non_blocking=True)
        return frames

    def batch_size_for_memory(self, frames: int, short_side: int, fraction: float = 0.5, cap: int = 128) -> int:
        """The most clips per ``encode_videos`` batch that fit in ``fraction`` of the GPU's free memory.

        The memory of one clip is measured, not guessed: peak memory of a 1-clip and a 2-clip batch of
        ``frames`` 16:9 frames of ``short_side`` (the difference is the cost of a clip, the rest the fixed cost).
        ``cap``: past a few hundred frames a GPU runs no faster, and every clip of a batch waits decoded in RAM
        (~2 MB) first. On a CPU memory is rarely the limit and bigger batches gain little: ``DEFAULT_BATCH_SIZE``.
        """
        if not self.device.startswith("cuda"):
            return DEFAULT_BATCH_SIZE
        clip = np.zeros((frames, short_side, short_side * 16 // 9, 3), np.uint8)  # widescreen frames, as decoded
        torch.cuda.synchronize(self.device)
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated(self.device)
        peaks = []
        for batch in (1, 2):
            torch.cuda.reset_peak_memory_stats(self.device)
            self.encode_videos([clip] * batch)
            peaks.append(torch.cuda.max_memory_allocated(self.device) - base)
        free, _ = torch.cuda.mem_get_info(self.device)
        # Memory torch's allocator holds but no tensor uses (the probes' blocks) is free for the batches too.
        free += torch.cuda.memory_reserved(self.device) - torch.cuda.memory_allocated(self.device)
        return batch_for_memory(free, peaks[0], peaks[1], fraction, cap)

    def encode_text(self, texts: Sequence[str], template: str = "{}") -> np.ndarray:
        """Texts (each wrapped in ``template``) -> unit vectors [N, D]."""
        if isinstance(texts, str):
            texts = [texts]
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        tokens = self.tokenize([template.format(text) for text in texts])
        with torch.inference_mode(), self._autocast():
            vectors = self._encode_tokens(tokens.to(self.device)).float()
            return F.normalize(vectors, dim=-1).cpu().numpy()

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """Texts (already wrapped in their template) -> the token ids the text tower reads.

        A prompted encoder puts its placeholders first (``X X ... X a photo of a dog.``, as ViFi-CLIP does), labels and
        free-form queries alike; the learned text prompts replace their embeddings. A text too long for the context
        left is cut at its end, as the tokenizer cuts any text.
        """
        texts = list(texts)
        if self.prompts is not None:
            prefix = self.prompts.text_prefix()
            texts = [prefix + text for text in texts]
        return self.tokenizer(texts)

    def _encode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """open_clip's ``CLIP.encode_text`` with the context cut to the longest text in the batch.

        The text transformer is causal and pools at the end-of-text token, so padding after it never
        changes the result; skipping it makes a short query ~2x cheaper. Other text towers run as they are.
        VL prompts come in through hooks on the modules called here (``token_embedding``, the residual blocks).
        """
        m = self.model
        if not has_causal_text_tower(m):
            return m.encode_text(tokens)
        return causal_text_features(m, cut_context(tokens))

    def classify(
        self, frames: np.ndarray, labels: Sequence[str], template: str = DEFAULT_TEMPLATE
    ) -> list[tuple[str, float, float]]:
        """Zero-shot classification of one clip: (label, cosine, probability), most probable first."""
        return self.classify_vector(self.encode_video(frames), labels, template)

    def classify_vector(
        self, video: np.ndarray, labels: Sequence[str], template: str = DEFAULT_TEMPLATE
    ) -> list[tuple[str, float, float]]:
        """Zero-shot classification of an already-embedded clip (e.g. an indexed segment's vector)."""
        label_vectors = self.encode_text(labels, template)
        scores = label_vectors @ video
        probabilities = zero_shot_probabilities(scores, self.logit_scale)
        order = np.argsort(-probabilities, kind="stable")
        return [(labels[i], float(scores[i]), float(probabilities[i])) for i in order]


def has_causal_text_tower(model: torch.nn.Module) -> bool:
    """Whether ``model`` is an open_clip CLIP whose text tower is causal and pools at the end-of-text token."""
    return isinstance(model, open_clip.CLIP) and model.text_pool_type == "argmax" and model.attn_mask is not None


def cut_context(tokens: torch.Tensor) -> torch.Tensor:
    """Token ids [N, C] cut after the longest text's last token (ids are 0 past a text's end)."""
    return tokens[:, : int((tokens != 0).sum(dim=1).max())]


def causal_text_features(m: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """The text features of a causal CLIP text tower for token ids [N, L] of any length L up to the context (the
    unnormalised vectors [N, D] of ``CLIP.encode_text``); exported as it is by models.engines."""
    length = tokens.shape[1]
    cast_dtype = m.transformer.get_cast_dtype()
    x = m.token_embedding(tokens).to(cast_dtype) + m.positional_embedding[:length].to(cast_dtype)
    x = m.transformer(x, attn_mask=m.attn_mask[:length, :length])
    x = m.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]
    if isinstance(m.text_projection, torch.nn.Linear):
        return m.text_projection(x)
    return x @ m.text_projection if m.text_projection is not None else x


DEFAULT_BATCH_SIZE = 16  # clips per batch on a CPU: larger batches embed no faster there


def batch_for_memory(free: int, peak_one: int, peak_two: int, fraction: float = 0.5, cap: int = 128) -> int:
    """How many clips fit in ``fraction`` of ``free`` bytes, given the peak memory of a 1-clip and a 2-clip batch:
    a clip costs ``peak_two - peak_one``, the rest of ``peak_one`` is paid once. At least 1, at most ``cap``."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], not {fraction}")
    per_clip = max(1, peak_two - peak_one)
    fixed = max(0, peak_one - per_clip)
    return max(1, min(cap, int((free * fraction - fixed) // per_clip)))


def set_intra_op_threads(threads: int) -> None:
    """How many threads torch uses inside one operation (a matrix product, a layer), for the whole process
    (``torch.set_num_threads``): on a small machine that also serves HTTP, one is steadier than two."""
    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    torch.set_num_threads(threads)


@functools.cache
def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (x86 AVX512-BF16 or AMX; Linux flags).

    There a bfloat16 matrix product costs about a third of a float32 one (3.1x for the ViT-B-32 text tower,
    2.9x for a flat scan, measured on 2 AVX512-BF16 cores); elsewhere torch emulates bfloat16, slower
    than float32, so callers keep float32.
    """
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    return "avx512_bf16" in flags or "amx_bf16" in flags


def zero_shot_probabilities(cosines: np.ndarray, logit_scale: float) -> np.ndarray:
    """Softmax over cosine similarities scaled by the model's (learned) logit scale."""
    logits = np.asarray(cosines, dtype=np.float64) * logit_scale
    logits -= logits.max()
    weights = np.exp(logits)
    return weights / weights.sum()
