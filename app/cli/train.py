"""``vidseek finetune`` and ``vidseek synth`` (and the registration of ``vidseek eval``, :mod:`app.cli.evaluate`):
training the video encoder on captioned or labelled clips, and writing a synthetic set of them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.arguments import add_model, given, progress_on
from app.cli.clipsets import add_clip_data, encoder_for, load_clip_set, metrics
from app.cli.evaluate import add_eval_command
from app.settings import DEFAULT_MODEL, DEFAULT_PRETRAINED


def add_train_commands(commands) -> None:
    _add_finetune_command(commands)
    add_eval_command(commands)
    _add_synth_command(commands)


def _add_finetune_command(commands) -> None:
    finetune = commands.add_parser(
        "finetune",
        help="fine-tune the video encoder on captioned or labelled videos",
        description="Fine-tune both CLIP encoders the ViFi-CLIP way (frames encoded independently and mean-pooled, "
        "AdamW, cosine schedule with warm-up) on TRAIN, a CSV/JSONL file with columns video,caption or video,label "
        "(optional start,end in seconds; paths relative to the file). Labels train each clip's cross-entropy over the "
        "prompts of all the set's classes (the paper's setting: label smoothing, mixup, cutmix); captions the "
        "symmetric contrastive loss over the batch's distinct captions. With --prompts vl the model stays frozen and only "
        "vision-language prompts learn (ViFi-CLIP's bridge-and-prompt). Writes --out after every epoch (loadable with "
        "--pretrained OUT) and a JSON log beside it. Decoded frames are cached, so later epochs and runs do not decode "
        "again; a video that cannot be decoded is reported and skipped.",
    )
    finetune.set_defaults(run=cmd_finetune)
    finetune.add_argument("train", type=Path, help="training set (.csv or .jsonl)")
    finetune.add_argument(
        "--out", type=Path, required=True, help="checkpoint to write (safetensors, whatever the name: e.g. finetuned.safetensors)"
    )
    add_model(finetune, f"default: {DEFAULT_MODEL} / {DEFAULT_PRETRAINED}")
    add_clip_data(finetune)
    finetune.add_argument(
        "--target",
        choices=["auto", "caption", "label"],
        default="auto",
        help="train on captions or on labels wrapped in --template (default: captions when present)",
    )
    # No default= on options only FinetuneOptions reads: its defaults apply (arguments.given).
    finetune.add_argument("--epochs", type=int, help="epochs (default: 10)")
    finetune.add_argument(
        "--lr",
        type=float,
        help="peak learning rate (default: 8e-6, ViFi-CLIP's, for pretrained weights; 1e-3 with "
        "--pretrained none, where the text encoder has to learn the vocabulary from scratch; 8e-3 with --prompts, "
        "the reference's few-shot prompting rate, whatever the weights)",
    )
    _add_recipe_options(finetune)
    _add_prompt_options(finetune)
    finetune.add_argument("--accumulation", type=int, help="batches per optimizer step (default: 1)")
    finetune.add_argument(
        "--freeze",
        choices=["text", "image"],
        help="keep one encoder fixed: 'text' = image-only FT, 'image' = text-only FT (paper ablations)",
    )
    # Written out: the seed also seeds the random initialisation, before FinetuneOptions exists (as eval's does).
    finetune.add_argument("--seed", type=int, default=0, help="seed of the shuffling and of random initialisation (default: 0)")
    finetune.add_argument("--resume", action="store_true", help="continue from --out if it holds an interrupted run")
    finetune.add_argument("--val", type=Path, help="a labelled/captioned set to evaluate after every epoch (into the log)")
    finetune.add_argument("--log", type=Path, help="JSON log of losses/metrics per epoch (default: OUT with .log.json)")


def _add_recipe_options(finetune: argparse.ArgumentParser) -> None:
    """The recipe and the loss's options: FinetuneOptions fills those left out from the recipe."""
    finetune.add_argument(
        "--recipe",
        choices=["vificlip", "vidseek"],
        help="vificlip: the reference code's (weight decay on every parameter, token table fixed, 5 warm-up epochs, "
        "cosine to lr/100, no temperature clamp); vidseek: ours (no decay on gains, biases, embeddings and the "
        "temperature, 1 warm-up epoch, cosine to 0, temperature clamped at 100). Default: vificlip for labels, "
        "vidseek for captions",
    )
    finetune.add_argument("--weight-decay", type=float, help="AdamW weight decay, on what the recipe decays (default: 1e-3)")
    finetune.add_argument(
        "--warmup-epochs", type=float, help="linear warm-up length in epochs (default: 5 with --recipe vificlip, 1 with vidseek)"
    )
    finetune.add_argument(
        "--label-smoothing",
        type=float,
        help="label data: share of each target spread over all classes (default: 0.1 with --recipe vificlip, else 0)",
    )
    finetune.add_argument(
        "--mixup",
        type=float,
        metavar="ALPHA",
        help="label data: mixup's Beta alpha, 0 disables (default: 0.8 with --recipe vificlip, else 0); with --cutmix "
        "too, each batch takes one of the two at even odds",
    )
    finetune.add_argument(
        "--cutmix",
        type=float,
        metavar="ALPHA",
        help="label data: cutmix's Beta alpha, 0 disables (default: 1.0 with --recipe vificlip, else 0)",
    )


def _add_prompt_options(finetune: argparse.ArgumentParser) -> None:
    """ViFi-CLIP's "bridge and prompt": learn only prompts on a frozen --pretrained (a fine-tune of it included)."""
    finetune.add_argument(
        "--prompts",
        choices=["vl"],
        help="vl: freeze every CLIP weight (the temperature too) and learn only deep vision-language prompts, tokens "
        "in both towers at the input and at the first --prompt-depth layers (the paper's bridge-and-prompt); --out "
        "then holds only the prompts and names the base weights, and loads with --pretrained OUT. --pretrained may "
        "be a prompts file to train on. Not with --freeze",
    )
    finetune.add_argument(
        "--prompt-tokens", type=int, metavar="N", help="prompt tokens per layer in each tower (default: 10, as the reference)"
    )
    finetune.add_argument(
        "--prompt-depth", type=int, metavar="J", help="layers that take learnt prompts, from the input (default: 12)"
    )


def _add_synth_command(commands) -> None:
    synth = commands.add_parser(
        "synth",
        help="generate a synthetic captioned video benchmark (train.csv, test.csv)",
        description="Write N short H.264 clips of coloured shapes moving over plain backgrounds, with captions and labels, "
        "split into OUT_DIR/train.csv and OUT_DIR/test.csv (columns video,caption,label). Some colour+shape pairs "
        "appear only in test, and no test caption appears in training.",
    )
    synth.set_defaults(run=cmd_synth)
    # No default= on options that SynthOptions has: its defaults apply (arguments.given).
    synth.add_argument("out_dir", type=Path, help="folder to write into")
    synth.add_argument("--n", type=int, help="clips in all (default: 1200)")
    synth.add_argument("--seed", type=int, help="random seed (default: 0)")
    synth.add_argument("--test-fraction", type=float, help="share of clips in test (default: 0.2)")
    synth.add_argument("--two-objects", type=float, help="share of clips with two objects (default: 0.2)")
    synth.add_argument("--workers", type=int, help="encoder processes (default: one per CPU core)")


def _target(args: argparse.Namespace, clip_set) -> str:
    """What to train on: ``caption`` or ``label`` (``auto``: captions when every row has one)."""
    target = args.target
    if target == "auto":
        target = "caption" if all(e.caption for e in clip_set.examples) else "label"
    missing = [e for e in clip_set.examples if not (e.caption if target == "caption" else e.label)]
    if missing:
        raise ValueError(f"{len(missing)} row(s) of {args.train} have no {target} (first: {missing[0].video})")
    return target


def _finetune_options(args: argparse.Namespace, encoder, target: str):
    from models.finetune import FinetuneOptions

    # Random weights (--pretrained none): the text encoder learns the vocabulary from scratch, at a higher rate.
    # Prompts train at their own rate (FinetuneOptions'), whatever the weights.
    lr = args.lr if args.lr is not None or args.prompts else (1e-3 if encoder.spec.pretrained == "none" else None)
    tokens, depth = args.prompt_tokens, args.prompt_depth
    if args.prompts and encoder.prompts is not None:  # training on from a prompts file: its shape, unless told
        tokens = encoder.prompts.tokens if tokens is None else tokens
        depth = encoder.prompts.depth if depth is None else depth
    return FinetuneOptions(
        batch_size=args.batch_size,
        freeze=args.freeze,
        fusion=args.fusion,
        seed=args.seed,
        target=target,
        prompts=args.prompts,
        **given(
            prompt_tokens=tokens,
            prompt_depth=depth,
            epochs=args.epochs,
            lr=lr,
            weight_decay=args.weight_decay,
            warmup_epochs=args.warmup_epochs,
            accumulation=args.accumulation,
            recipe=args.recipe,
            label_smoothing=args.label_smoothing,
            mixup=args.mixup,
            cutmix=args.cutmix,
        ),
    )


def _what_trains(encoder, options) -> str:
    """The start line's subject: the model fine-tuned, or the prompts learnt on it (a prompts file's base named)."""
    spec = encoder.spec
    if not options.prompts:
        return f"fine-tuning {spec.name}/{spec.pretrained}"
    base = spec.prompts["base_pretrained"] if spec.prompts else spec.pretrained
    again = f", training on {spec.pretrained}" if spec.prompts else ""
    return f"VL prompts ({options.prompt_tokens} tokens, depth {options.prompt_depth}) on a frozen {spec.name}/{base}{again}"


def cmd_finetune(args: argparse.Namespace) -> int:
    from indexer.progress import progress_bar
    from models.finetune import finetune

    encoder = encoder_for(args)
    clip_set = load_clip_set(args.train, encoder, args)
    target = _target(args, clip_set)
    options = _finetune_options(args, encoder, target)
    options.check()  # a bad combination (--mixup on captions) fails before any decoding of --val
    on_epoch = None
    if args.val is not None:
        val_set = load_clip_set(args.val, encoder, args)
        on_epoch = lambda epoch: {"val": metrics(encoder, val_set, args)}  # noqa: E731
    print(
        f"{_what_trains(encoder, options)} on {len(clip_set.clips)} clips ({target}s), "
        f"recipe {options.recipe}, {options.epochs} epochs, lr {options.lr:g}, on {encoder.device} "
        f"({clip_set.cached} clips from the frame cache, {len(clip_set.failed)} skipped)",
        file=sys.stderr,
    )
    log_path = args.log or args.out.with_suffix(".log.json")
    history = finetune(
        encoder,
        clip_set.clips,
        clip_set.texts(target, args.template),
        options,
        args.out,
        resume=args.resume,
        on_epoch=on_epoch,
        progress=progress_bar if progress_on(args) else False,
        extra={
            "train": str(args.train),
            "target": target,
            "template": args.template,
            "frames": args.frames,
            "skipped": clip_set.failed,
        },
        log_path=log_path,
    )
    last = history[-1] if history else {}
    print(f"wrote {args.out} (epoch {last.get('epoch')}, loss {last.get('loss', float('nan')):.4f}) and {log_path}")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from indexer.synth import SynthOptions, generate

    options = SynthOptions(
        **given(
            n=args.n,
            seed=args.seed,
            test_fraction=args.test_fraction,
            two_object_fraction=args.two_objects,
            workers=args.workers,
        )
    )
    if options.n < 2:
        raise ValueError("--n must be at least 2")
    report = generate(args.out_dir, options)
    print(f"wrote {report.train} training and {report.test} test clips to {args.out_dir}")
    print(f"  {report.train_csv}\n  {report.test_csv}")
    print(f"  colour+shape pairs only in test: {', '.join(report.held_out)}")
    return 0
