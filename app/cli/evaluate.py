"""``vidseek eval``: retrieval and zero-shot classification of an encoder on a captioned or labelled test set."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.cli.arguments import add_model
from app.cli.clipsets import add_clip_data, encoder_for, load_clip_set, metrics
from app.settings import DEFAULT_MODEL, DEFAULT_PRETRAINED


def add_eval_command(commands) -> None:
    evaluate = commands.add_parser(
        "eval",
        help="measure retrieval (R@1/5/10, MedR, MnR) and zero-shot classification on a test set",
        description="Embed every clip of TEST (CSV/JSONL: video and caption and/or label columns) and report text->video "
        "and video->text retrieval over the distinct captions, and zero-shot top-1/top-5 over the distinct labels.",
    )
    evaluate.set_defaults(run=cmd_eval)
    evaluate.add_argument("test", type=Path, help="test set (.csv or .jsonl)")
    add_model(evaluate, f"default: {DEFAULT_MODEL} / {DEFAULT_PRETRAINED}")
    add_clip_data(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument(
        "--seed", type=int, default=0, help="seed of random initialisation with --pretrained none, as in finetune (default: 0)"
    )


def cmd_eval(args: argparse.Namespace) -> int:
    encoder = encoder_for(args)
    clip_set = load_clip_set(args.test, encoder, args)
    result = {
        "model": encoder.spec.name,
        "pretrained": encoder.spec.pretrained,
        "clips": len(clip_set.clips),
        "skipped": len(clip_set.failed),
        **metrics(encoder, clip_set, args),
    }
    if args.json:
        print(json.dumps(result))
    else:
        _print_metrics(result, args.fusion)
    return 0


def _print_metrics(result: dict, fusion: str) -> None:
    print(f"{result['model']} / {result['pretrained']}: {result['clips']} clips ({result['skipped']} skipped)", end="")
    print(f", fusion {fusion}")
    if "t2v_r1" in result:
        print(f"  videos {result['videos']}, captions {result['queries']} (chance R@1 {result['chance_r1']:.4f})")
        for d in ("t2v", "v2t"):
            print(
                f"  {d}: R@1 {result[f'{d}_r1']:.3f}  R@5 {result[f'{d}_r5']:.3f}  R@10 {result[f'{d}_r10']:.3f}  "
                f"MedR {result[f'{d}_medr']:g}  MnR {result[f'{d}_mnr']:.1f}"
            )
    if "zs_top1" in result:
        print(f"  zero-shot over {result['labels']} labels: top-1 {result['zs_top1']:.3f}  top-5 {result['zs_top5']:.3f}")
