"""Fine-tuning benchmark on the synthetic set, end to end through the ``vidseek`` command.

    python benchmarks/bench_finetune.py [--out DIR] [--n 3000 --test-fraction 0.08] [--epochs 40] [--no-ablations]

Steps (each one a ``vidseek`` subprocess, timed): ``synth`` -> ``eval`` of the untrained model (the
baseline; ``--seed`` makes it the very weights fine-tuning starts from) -> ``finetune`` -> ``eval``; then
the ViFi-CLIP paper's Table-5 fusion ablation (embedding-level = ours, decision-level, image-level) and
the tower ablation (image-FT = text frozen, text-FT = image frozen, both), each fine-tuned and
evaluated the same way. Last, a diagnostic: does the fine-tuned encoder tell a test clip from its
time-reversed copy? Prints a Markdown table and writes ``results.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def vidseek(*args) -> tuple[str, float]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "app.cli", *map(str, args)], cwd=ROOT, env=ENV, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"vidseek {' '.join(map(str, args))} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout, seconds


def evaluate(args, test_csv: Path, pretrained, fusion: str = "embedding") -> dict:
    out, seconds = vidseek(
        "eval", test_csv, "--model", args.model, "--pretrained", pretrained, "--frames", args.frames, "--fusion", fusion,
        "--template", args.template, "--cache-dir", args.out / "cache", "--seed", args.seed, "--json", "--no-progress",
    )  # fmt: skip
    return {**json.loads(out), "eval_seconds": round(seconds, 1)}


def finetune(args, train_csv: Path, name: str, *extra, epochs: int) -> tuple[Path, float]:
    checkpoint = args.out / f"{name}.pt"
    _, seconds = vidseek(
        "finetune", train_csv, "--model", args.model, "--pretrained", "none", "--out", checkpoint, "--frames", args.frames,
        "--epochs", epochs, "--batch-size", args.batch_size, "--lr", args.lr, "--seed", args.seed,
        "--cache-dir", args.out / "cache", "--no-progress", *extra,
    )  # fmt: skip
    return checkpoint, seconds


def time_reversal(args, checkpoint: Path, test_csv: Path) -> dict:
    """Scores of each test caption against its clip and against the clip played backwards."""
    import numpy as np

    from indexer.dataset import load_clips, read_examples
    from models import load_encoder
    from models.evaluate import embed_clips, embed_texts

    encoder = load_encoder(args.model, str(checkpoint), "cpu")
    clips = load_clips(read_examples(test_csv), args.frames, encoder.preprocess.resize, cache_dir=args.out / "cache")
    forward = embed_clips(encoder, clips.clips)
    backward = embed_clips(encoder, [c[::-1].copy() for c in clips.clips])
    texts = embed_texts(encoder, [e.caption for e in clips.examples])
    gap = np.abs((texts * forward).sum(1) - (texts * backward).sum(1))
    return {
        "clips": len(clips.clips),
        "max_vector_difference": float(np.abs(forward - backward).max()),
        "max_score_difference": float(gap.max()),
        "told_apart": int((gap > 1e-4).sum()),
    }


def row(name: str, m: dict, seconds: float | None = None) -> str:
    took = f"{seconds / 60:.1f}" if seconds is not None else "-"
    return (
        f"| {name} | {m['t2v_r1']:.3f} | {m['t2v_r5']:.3f} | {m['t2v_r10']:.3f} | {m['t2v_medr']:g} | "
        f"{m['v2t_r1']:.3f} | {m['zs_top1']:.3f} | {took} |"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_out = Path(tempfile.gettempdir()) / "vidseek-bench-finetune"
    parser.add_argument("--out", type=Path, default=default_out, help="work folder: videos, frame cache, checkpoints")
    parser.add_argument("--n", type=int, default=3000, help="synthetic clips in all (default: 3000)")
    parser.add_argument("--test-fraction", type=float, default=0.08, help="share of them in test (default: 0.08, 240 clips)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="vidseek-tiny")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--ablation-epochs", type=int, help="epochs of each ablation run (default: --epochs)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3, help="random init: the text encoder learns the words from scratch")
    parser.add_argument("--template", default="a {}", help="zero-shot prompt around the 'colour shape' labels")
    parser.add_argument("--no-ablations", action="store_true")
    args = parser.parse_args()
    args.out = args.out.resolve()
    return args


def planned_runs(args) -> list[tuple[str, str, tuple[str, ...], str, int]]:
    """(title, name, finetune options, eval fusion, epochs): ours, then the fusion and tower ablations."""
    ablation_epochs = args.ablation_epochs or args.epochs
    runs = [("ours: embedding-level fusion, both towers", "ours", (), "embedding", args.epochs)]
    if not args.no_ablations:
        runs += [
            ("decision-level fusion, both towers", "decision", ("--fusion", "decision"), "decision", ablation_epochs),
            ("image-level fusion, both towers", "image", ("--fusion", "image"), "image", ablation_epochs),
            ("image-FT (text frozen), embedding fusion", "image_ft", ("--freeze", "text"), "embedding", ablation_epochs),
            ("text-FT (image frozen), embedding fusion", "text_ft", ("--freeze", "image"), "embedding", ablation_epochs),
        ]
    return runs


def print_table(args, results: dict) -> None:
    baseline = results["baseline"]
    print(
        f"\n{args.model}, {baseline['videos']} test clips / {baseline['queries']} captions "
        f"(chance R@1 {baseline['chance_r1']:.4f}), {args.frames} frames, "
        f"zero-shot over {baseline['labels']} labels with template {args.template!r}\n"
    )
    print("| model | T2V R@1 | R@5 | R@10 | MedR | V2T R@1 | ZS top-1 | fine-tune min |")
    print("|---|---|---|---|---|---|---|---|")
    print(row("untrained (baseline)", baseline))
    for run in results["runs"].values():
        print(row(f"{run['title']} ({run['epochs']} ep)", run, run["finetune_seconds"]))
    tr = results["time_reversal"]
    print(
        f"\ntime reversal ({tr['clips']} test clips, fine-tuned 'ours'): largest difference between a clip's vector and its "
        f"reversed copy's {tr['max_vector_difference']:.2e}, largest caption-score difference {tr['max_score_difference']:.2e}; "
        f"clips told apart: {tr['told_apart']} (mean pooling is order-free by construction)"
    )


def main() -> int:
    args = parse_args()
    results: dict = {"settings": {k: str(v) for k, v in vars(args).items()}}

    out, seconds = vidseek("synth", args.out / "data", "--n", args.n, "--test-fraction", args.test_fraction, "--seed", args.seed)
    train_csv, test_csv = args.out / "data" / "train.csv", args.out / "data" / "test.csv"
    results["synth_seconds"] = round(seconds, 1)
    print(out.strip(), f"({seconds:.0f} s)", file=sys.stderr)

    baseline = evaluate(args, test_csv, "none")
    results["baseline"] = baseline
    print(f"baseline: t2v R@1 {baseline['t2v_r1']:.3f} (chance {baseline['chance_r1']:.4f})", file=sys.stderr)

    results["runs"] = {}
    for title, name, extra, fusion, epochs in planned_runs(args):
        checkpoint, seconds = finetune(args, train_csv, name, *extra, epochs=epochs)
        metrics = evaluate(args, test_csv, checkpoint, fusion)
        results["runs"][name] = {"title": title, "epochs": epochs, "finetune_seconds": round(seconds, 1), **metrics}
        (args.out / "results.json").write_text(json.dumps(results, indent=2))
        print(f"{title}: t2v R@1 {metrics['t2v_r1']:.3f} after {seconds / 60:.1f} min", file=sys.stderr)

    results["time_reversal"] = time_reversal(args, args.out / "ours.pt", test_csv)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    print_table(args, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
