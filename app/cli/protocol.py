"""``vidseek eval --protocol``: the ViFi-CLIP paper's low-data protocols (few-shot, base-to-novel) run on any labelled
CSV. The bookkeeping is :mod:`models.protocols`'; here the model is loaded, trained on the protocol's rows (every
weight, or prompts on the frozen model) and scored."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from app.cli.arguments import progress_on
from app.cli.clipsets import encoder_for, load_clip_set
from models.protocols import BASE2NOVEL_SHOTS, METHODS, PAPER_SETTINGS, PAPER_SHOTS, PROTOCOLS, parse_shots


def add_protocol_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "low-data protocols",
        "Train on K clips per class of --train (few-shot: of every class, scored over all of them; base2novel: of the "
        "first half of the sorted classes, scored over the base classes on their test clips and over the novel ones on "
        "theirs, and the harmonic mean), then report top-1 on TEST's clips of those classes, labels wrapped in "
        "--template. Each K restarts from --pretrained (e.g. a bridged fine-tune). Defaults are the reference's configs.",
    )
    group.add_argument("--protocol", choices=PROTOCOLS, help="run a low-data protocol instead of plain evaluation")
    group.add_argument("--train", type=Path, help="the labelled set the protocol draws its training clips from")
    group.add_argument(
        "--shots",
        help=f"clips per class, or several, comma-separated, one run each (default: "
        f"{','.join(map(str, PAPER_SHOTS))} for few-shot, {BASE2NOVEL_SHOTS} for base2novel)",
    )
    group.add_argument(
        "--method",
        choices=METHODS,
        default="vl",
        help="vl: train only vision-language prompts on the frozen model (the paper's 'bridge and prompt'); full: "
        "fine-tune every weight on labels (default: vl)",
    )
    group.add_argument(
        "--prompt-tokens", type=int, help="prompt tokens per layer and tower (default: 10 few-shot, 16 base2novel)"
    )
    group.add_argument("--prompt-depth", type=int, help="layers given fresh prompts (default: 12 few-shot, 9 base2novel)")
    group.add_argument("--epochs", type=int, help="training epochs (default: 50 few-shot, 11 base2novel)")
    group.add_argument(
        "--lr",
        type=float,
        help="peak learning rate (default: vl 8e-3 few-shot, 4e-2 base2novel; full 2e-6, or 1e-3 with --pretrained none)",
    )
    group.add_argument(
        "--out", type=Path, help="keep the trained checkpoint here (with several --shots: OUT-<K>shot); default: a temporary file"
    )


def cmd_protocol(args: argparse.Namespace, views: tuple[int, int]) -> int:
    if args.train is None:
        raise ValueError(f"--protocol {args.protocol} needs --train: the labelled set to draw the training clips from")
    shots = parse_shots(args.shots) if args.shots else list(PAPER_SHOTS if args.protocol == "few-shot" else [BASE2NOVEL_SHOTS])
    encoder = encoder_for(args)
    train_set = _labelled(load_clip_set(args.train, encoder, args), args.train)
    test_set = _labelled(load_clip_set(args.test, encoder, args, views), args.test)
    with tempfile.TemporaryDirectory(prefix="vidseek-protocol-") as scratch:
        for number, k in enumerate(shots):
            if number:
                encoder = encoder_for(args)  # every K starts from the same weights
            result = run_protocol(args, encoder, train_set, test_set, k, views, _checkpoint(args, k, len(shots), scratch))
            print(json.dumps(result) if args.json else _row(result, header=number == 0), flush=True)
    return 0


def run_protocol(args: argparse.Namespace, encoder, train_set, test_set, shots: int, views, checkpoint: Path) -> dict:
    """One run of ``args.protocol`` at ``shots``: the protocol's dict plus what ran it."""
    from models.protocols import run_base_novel, run_few_shot

    train_labels = [e.label for e in train_set.examples]
    test_labels = [e.label for e in test_set.examples]
    base = {"model": encoder.spec.name, "pretrained": encoder.spec.pretrained, "method": args.method}

    def train(rows):
        _train(args, encoder, train_set, rows, checkpoint)
        return lambda test_rows, classes: _top1(args, encoder, test_set, test_rows, classes, views[0])

    if args.protocol == "few-shot":
        result = run_few_shot(train_labels, test_labels, shots, train, seed=args.seed)
    else:
        result = run_base_novel(train_labels, test_labels, train, shots=shots, seed=args.seed)
    return {**base, **result, "views": f"{views[0]}x{views[1]}"}


def _train(args: argparse.Namespace, encoder, train_set, rows, checkpoint: Path) -> None:
    from indexer.progress import progress_bar
    from models.finetune import finetune

    options = _options(args, encoder)
    clips = [train_set.clips[r] for r in rows]
    texts = [args.template.format(train_set.examples[r].label) for r in rows]
    print(
        f"training {args.method} on {len(rows)} clips of {len(set(texts))} classes, {options.epochs} epochs, "
        f"lr {options.lr:g}, on {encoder.device}",
        file=sys.stderr,
    )
    finetune(encoder, clips, texts, options, checkpoint, progress=progress_bar if progress_on(args) else False)


def _options(args: argparse.Namespace, encoder):
    """The training options: what was given, else the reference's config for this protocol and method."""
    from models.finetune import FinetuneOptions

    paper = PAPER_SETTINGS[(args.protocol, args.method)]
    lr = args.lr
    if lr is None:  # random weights (--pretrained none) learn the vocabulary at finetune's higher rate
        lr = 1e-3 if args.method == "full" and encoder.spec.pretrained == "none" else paper.lr
    prompts = {}
    if args.method == "vl":
        prompts = {
            "prompts": "vl",
            "prompt_tokens": args.prompt_tokens or paper.prompt_tokens,
            "prompt_depth": args.prompt_depth or paper.prompt_depth,
        }
    elif args.prompt_tokens is not None or args.prompt_depth is not None:
        raise ValueError("--prompt-tokens and --prompt-depth shape the prompts of --method vl, not of --method full")
    return FinetuneOptions(
        target="label",
        epochs=args.epochs or paper.epochs,
        lr=lr,
        batch_size=args.batch_size,
        fusion=args.fusion,
        seed=args.seed,
        **prompts,
    )


def _top1(args: argparse.Namespace, encoder, test_set, rows, classes, crops: int) -> float:
    """Top-1 of the test ``rows`` over ``classes`` (each in --template), their views combined as eval's are."""
    import numpy as np

    from models.evaluate import embed_texts
    from models.metrics import top_k_accuracy
    from models.views import embed_views, label_scores

    encoder.model.eval()
    view_vectors = embed_views(encoder, [test_set.clips[r] for r in rows], crops, args.fusion, args.batch_size)
    label_vectors = embed_texts(encoder, [args.template.format(c) for c in classes])
    scores = label_scores(view_vectors, label_vectors, encoder.logit_scale)
    truth = np.array([list(classes).index(test_set.examples[r].label) for r in rows])
    return float(top_k_accuracy(scores, truth, ks=(1,))["zs_top1"])


def _labelled(clip_set, path: Path):
    missing = [e for e in clip_set.examples if not e.label]
    if missing:
        raise ValueError(
            f"the protocols need a label on every row; {len(missing)} of {path} have none (first: {missing[0].video})"
        )
    return clip_set


def _checkpoint(args: argparse.Namespace, shots: int, runs: int, scratch: str) -> Path:
    if args.out is None:
        return Path(scratch) / f"{shots}shot.pt"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    return args.out if runs == 1 else args.out.with_name(f"{args.out.stem}-{shots}shot{args.out.suffix}")


def _row(result: dict, header: bool) -> str:
    """One line of the table (after a title and the column names, for the first)."""
    if result["protocol"] == "few-shot":
        columns = {"shots": "shots", "train_clips": "train", "classes": "classes", "test_clips": "test", "top1": "top-1"}
    else:
        columns = {
            "shots": "shots",
            "train_clips": "train",
            "base_classes": "base",
            "novel_classes": "novel",
            "base_test_clips": "base test",
            "novel_test_clips": "novel test",
            "base_top1": "base top-1",
            "novel_top1": "novel top-1",
            "hm": "HM",
        }
    cells = [f"{result[key]:.3f}" if isinstance(result[key], float) else str(result[key]) for key in columns]
    line = "  ".join(cell.rjust(len(name)) for cell, name in zip(cells, columns.values()))
    if not header:
        return line
    title = f"{result['protocol']}, {result['method']}, {result['model']} / {result['pretrained']}, views {result['views']}"
    return f"{title}\n{'  '.join(columns.values())}\n{line}"
