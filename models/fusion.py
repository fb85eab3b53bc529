"""How a clip's frames become one video vector (the ViFi-CLIP paper's Table 5).

* ``embedding`` (ours, ViFi-CLIP): every frame through the image encoder, frame embeddings mean-pooled,
  then L2-normalised; what :meth:`VideoEncoder.encode_videos` computes;
* ``decision``: every frame scored against the text on its own and the scores averaged, i.e. the mean of
  the L2-normalised frame embeddings, not normalised again;
* ``image``: the frames averaged pixel-wise into one image, which is encoded once.

All three are order-free: a clip and its time-reversed copy get the same vector.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

FUSIONS = ("embedding", "decision", "image")


def video_features(model: torch.nn.Module, pixels: torch.Tensor, fusion: str = "embedding") -> torch.Tensor:
    """Preprocessed clips [B, T, 3, S, S] -> video vectors [B, D], differentiable (training uses it too)."""
    b, t = pixels.shape[:2]
    if fusion == "image":
        return F.normalize(model.encode_image(pixels.mean(dim=1)).float(), dim=-1)
    frames = model.encode_image(pixels.flatten(0, 1)).float().reshape(b, t, -1)
    if fusion == "embedding":
        return F.normalize(frames.mean(dim=1), dim=-1)
    if fusion == "decision":
        return F.normalize(frames, dim=-1).mean(dim=1)
    raise ValueError(f"unknown fusion {fusion!r}; choose one of {', '.join(FUSIONS)}")


def text_features(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """Tokenised texts -> unit vectors [N, D], differentiable."""
    return F.normalize(model.encode_text(tokens).float(), dim=-1)
