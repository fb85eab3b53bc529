"""``vidseek eval``: retrieval and zero-shot classification of an encoder on a captioned or labelled test set, over
one view of each clip or several, and the paper's low-data protocols (:mod:`app.cli.protocol`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.cli.arguments import add_model
from app.cli.clipsets import add_clip_data, add_views, encoder_for, load_clip_set, metrics, views_of
from app.cli.protocol import add_protocol_options, cmd_protocol
from app.settings import DEFAULT_MODEL, DEFAULT_PRETRAINED


def add_eval_command(commands) -> None:
    evaluate = commands.add_parser(
        "eval",
        help="measure retrieval (R@1/5/10, MedR, MnR) and zero-shot classification on a test set, or run a few-shot "
        "or base-to-novel protocol",
        description="Embed every clip of TEST (CSV/JSONL: video and caption and/or label columns) and report text->video "
        "and video->text retrieval over the distinct captions, and zero-shot top-1/top-5 over the distinct labels. "
        "With --protocol, first train a copy of the model on --train the protocol's way, then score top-1 on TEST.",
    )
    evaluate.set_defaults(run=cmd_eval)
    evaluate.add_argument("test", type=Path, help="test set (.csv or .jsonl)")
    add_model(evaluate, f"default: {DEFAULT_MODEL} / {DEFAULT_PRETRAINED}")
    add_clip_data(evaluate)
    add_views(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object (one per line per --shots value)")
    evaluate.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of random initialisation with --pretrained none, as in finetune, and of a protocol's draw of "
        "training clips (default: 0)",
    )
    add_protocol_options(evaluate)


def cmd_eval(args: argparse.Namespace) -> int:
    views = views_of(args)  # a bad --views fails before the model loads
    if args.protocol is not None:
        return cmd_protocol(args, views)
    if args.train is not None or args.shots is not None:
        raise ValueError("--train and --shots belong to a protocol: add --protocol few-shot or --protocol base2novel")
    encoder = encoder_for(args)
    clip_set = load_clip_set(args.test, encoder, args, views)
    result = {
        "model": encoder.spec.name,
        "pretrained": encoder.spec.pretrained,
        "clips": len(clip_set.clips),
        "skipped": len(clip_set.failed),
        **metrics(encoder, clip_set, args, crops=views[0]),
    }
    if views != (1, 1):
        result["views"] = args.views
    if args.json:
        print(json.dumps(result))
    else:
        _print_metrics(result, args.fusion)
    return 0


def _print_metrics(result: dict, fusion: str) -> None:
    print(f"{result['model']} / {result['pretrained']}: {result['clips']} clips ({result['skipped']} skipped)", end="")
    print(f", fusion {fusion}" + (f", views {result['views']}" if "views" in result else ""))
    if "t2v_r1" in result:
        print(f"  videos {result['videos']}, captions {result['queries']} (chance R@1 {result['chance_r1']:.4f})")
        for d in ("t2v", "v2t"):
            print(
                f"  {d}: R@1 {result[f'{d}_r1']:.3f}  R@5 {result[f'{d}_r5']:.3f}  R@10 {result[f'{d}_r10']:.3f}  "
                f"MedR {result[f'{d}_medr']:g}  MnR {result[f'{d}_mnr']:.1f}"
            )
    if "zs_top1" in result:
        print(f"  zero-shot over {result['labels']} labels: top-1 {result['zs_top1']:.3f}  top-5 {result['zs_top5']:.3f}")
