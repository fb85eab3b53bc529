"""What ``vidseek finetune`` and ``vidseek eval`` share: the clip-data options, the encoder they load, the decoded
clip set and the metrics over it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from app.cli.arguments import progress_on, settings_for
from app.schemas import DEFAULT_TEMPLATE
from app.settings import DEFAULT_MODEL, DEFAULT_PRETRAINED, cache_root


def add_clip_data(parser: argparse.ArgumentParser) -> None:
    # The defaults here are written out: eval and finetune share these options, and what they match (FinetuneOptions,
    # models.evaluate.evaluate's keywords) is behind torch, which --help must not load.
    parser.add_argument("--frames", type=int, default=8, help="frames sampled per clip (default: 8)")
    parser.add_argument("--template", default=DEFAULT_TEMPLATE, help=f'prompt around labels (default: "{DEFAULT_TEMPLATE}")')
    parser.add_argument(
        "--fusion",
        choices=["embedding", "decision", "image"],
        default="embedding",
        help="how frames become a video vector: embedding (mean-pooled frame embeddings, ViFi-CLIP; "
        "what the index uses), decision (averaged per-frame scores), image (averaged pixels)",
    )
    parser.add_argument("--cache-dir", type=Path, help="decoded-frame cache (default: $XDG_CACHE_HOME/vidseek/frames)")
    parser.add_argument("--workers", type=int, help="decode worker processes (default: one per CPU core)")
    parser.add_argument("--batch-size", type=int, default=32, help="clips per batch (default: 32)")
    parser.add_argument(
        "--base",
        default="auto",
        help="base CLIP weights for keys a ViFi-CLIP checkpoint lacks (token_embedding): auto (the "
        "model's openai weights), a tag, a local file, or none",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


VIEWS_HELP = (
    "score every clip as S spatial crops x T temporal views (S: 1, the centre crop, or 3, the reference's ThreeCrop "
    "of frames resized to the crop size; T clips, sampled at offsets spread evenly through each frame's sub-segment "
    "where the reference draws them at random): each view's label scores go through a softmax and the probabilities "
    "are averaged (ViFi-CLIP's validate); retrieval averages the views' cosines. The paper's fully-supervised "
    "evaluation is 3x4 (TEST.NUM_CROP 3, NUM_CLIP 4 in its code); its zero-shot and low-data protocols use 1x1 "
    "(default: 1x1, one view)"
)


def add_views(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--views", default="1x1", metavar="SxT", help=VIEWS_HELP)


def views_of(args: argparse.Namespace) -> tuple[int, int]:
    """``--views`` as (spatial crops, temporal views); ValueError (exit 2) with the reason when it is not one."""
    from models.views import parse_views

    try:
        return parse_views(args.views)
    except ValueError as exc:
        raise ValueError(f"--views {args.views}: {exc}") from None


def load_clip_set(path: Path, encoder, args: argparse.Namespace, views: tuple[int, int] = (1, 1)):
    """The decoded clips of ``path``; with ``views`` (crops, temporal) each clip's temporal views, decoded at the crop
    size for three crops: the reference resizes the full-size frame to the crop size for ThreeCrop, so the crops then
    need no second resize (exact wherever the crop is at least the poster size, 224, as for ViT-B models)."""
    from indexer.dataset import load_clips, read_examples

    crops, temporal = views
    preprocess = encoder.preprocess
    clip_set = load_clips(
        read_examples(path),
        args.frames,
        preprocess.crop if crops > 1 else preprocess.resize,
        preprocess.interpolation,
        cache_dir=args.cache_dir if args.cache_dir is not None else cache_root() / "frames",
        workers=args.workers or max(1, os.cpu_count() or 1),
        progress=progress_on(args),
        views=temporal,
    )
    for video, reason in clip_set.failed:
        print(f"skipped {video}: {reason}", file=sys.stderr)
    if not clip_set.clips:
        raise ValueError(f"no video in {path} could be decoded")
    return clip_set


def encoder_for(args: argparse.Namespace):
    import torch

    from models import load_encoder

    torch.manual_seed(args.seed)  # --pretrained none: eval and finetune start from the same random weights

    settings = settings_for(args)
    model, pretrained = settings.model or DEFAULT_MODEL, settings.pretrained or DEFAULT_PRETRAINED
    return load_encoder(model, pretrained, settings.device, base=args.base)


def metrics(encoder, clip_set, args: argparse.Namespace, crops: int = 1) -> dict:
    from models.evaluate import evaluate

    examples = clip_set.examples
    return evaluate(
        encoder,
        clip_set.clips,
        [e.key for e in examples],
        [e.caption for e in examples],
        [e.label for e in examples],
        template=args.template,
        fusion=args.fusion,
        batch_size=args.batch_size,
        crops=crops,
    )
