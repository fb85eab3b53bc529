"""The shape of the ViFi-CLIP paper's Tables 7 (few-shot) and 8 (base-to-novel) on synthetic data, through the CLI.

    python benchmarks/bench_prompting.py [--out DIR] [--shots 2,4,8,16] [--few-shot-epochs 50] [--base2novel-epochs 11]

Steps, each one a ``vidseek`` subprocess:

1. two synthetic sets (``vidseek synth``): the *bridge* set (seed 1) and the *downstream* set (seed 0), whose labels
   are the first object's colour and shape (28 classes in training; 4 colour+shape pairs appear only in test and
   take no part here);
2. the bridge (the paper's K-400 fine-tune): vidseek-tiny from random weights fine-tuned on the bridge set's
   captions, so it knows the words and the pictures;
3. few-shot (Table 7): at each K, top-1 over the training classes on the downstream test clips of the frozen
   bridged model (zero-shot), of VL prompts learnt on it from K clips per class (``eval --protocol few-shot
   --method vl``), and of full fine-tuning of the bridged model on the same K clips (``--method full``);
4. base-to-novel (Table 8): the sorted classes halved; prompts or full fine-tuning on K clips per base class;
   top-1 on base test clips over base classes, on novel ones over novel classes, and their harmonic mean, against
   the frozen bridged model's zero-shot.

Prints two Markdown tables and writes ``results.json`` into ``--out``. The numbers are what this run measures on
this data; the paper's are on real video with ViT-B/16.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
sys.path.insert(0, str(ROOT))

from models.protocols import base_novel_split, harmonic_mean  # noqa: E402 - torch-free bookkeeping


def vidseek(*args) -> tuple[str, float]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "app.cli", *map(str, args)], cwd=ROOT, env=ENV, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"vidseek {' '.join(map(str, args))} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout, seconds


def common(args) -> list:
    return [
        "--model", args.model, "--frames", args.frames, "--template", args.template, "--cache-dir", args.out / "cache",
        "--seed", args.seed, "--no-progress",
    ]  # fmt: skip


def bridge(args, train_csv: Path) -> Path:
    """The bridged model (kept in --out: a rerun resumes it, or reuses it once complete)."""
    checkpoint = args.out / "bridge.safetensors"
    vidseek(
        "finetune", train_csv, "--pretrained", "none", "--out", checkpoint, "--target", "caption", "--resume",
        "--epochs", args.bridge_epochs, "--lr", args.bridge_lr, "--batch-size", args.batch_size, *common(args),
    )  # fmt: skip
    return checkpoint


def zero_shot(args, checkpoint: Path, test_csv: Path, classes: list[str], name: str) -> float:
    """The frozen model's top-1 over ``classes`` on the test clips of them (a test CSV cut to those rows)."""
    with test_csv.open() as f:
        rows = [row for row in csv.DictReader(f) if row["label"] in set(classes)]
    subset = test_csv.with_name(f"{name}.csv")
    with subset.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out, _ = vidseek("eval", subset, "--pretrained", checkpoint, "--json", *common(args))
    result = json.loads(out)
    if result["labels"] != len(classes):
        sys.exit(f"{name}: the test set has {result['labels']} of the {len(classes)} classes; use a larger --n")
    return result["zs_top1"]


def protocol(args, checkpoint: Path, data: Path, name: str, method: str, shots: str, lr: float) -> tuple[list[dict], float]:
    epochs = {"few-shot": args.few_shot_epochs, "base2novel": args.base2novel_epochs}
    prompts = ("--prompt-tokens", args.prompt_tokens, "--prompt-depth", args.prompt_depth) if method == "vl" else ()
    out, seconds = vidseek(
        "eval", data / "test.csv", "--train", data / "train.csv", "--pretrained", checkpoint, "--protocol", name,
        "--method", method, "--shots", shots, "--epochs", epochs[name], "--lr", lr, "--batch-size", args.protocol_batch_size,
        *prompts, "--json", *common(args),
    )  # fmt: skip
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")], seconds


def training_classes(train_csv: Path) -> list[str]:
    with train_csv.open() as f:
        return sorted({row["label"] for row in csv.DictReader(f)})


def run(args) -> dict:
    bridge_data, data = args.out / "bridge-set", args.out / "downstream-set"
    for folder, seed in ((bridge_data, 1), (data, 0)):
        if not (folder / "train.csv").is_file():
            vidseek("synth", folder, "--n", args.n, "--seed", seed, "--test-fraction", args.test_fraction)
    started = time.perf_counter()
    checkpoint = bridge(args, bridge_data / "train.csv")
    results: dict = {"bridge_seconds": round(time.perf_counter() - started, 1), "few_shot": {}, "base2novel": {}}
    classes = training_classes(data / "train.csv")
    results["few_shot"]["zero_shot"] = zero_shot(args, checkpoint, data / "test.csv", classes, "test-training-classes")
    shots = ",".join(map(str, args.shots))
    for method, lr in (("vl", args.prompt_lr), ("full", args.full_lr)):
        rows, seconds = protocol(args, checkpoint, data, "few-shot", method, shots, lr)
        results["few_shot"][method] = {str(r["shots"]): r["top1"] for r in rows}
        results["few_shot"][f"{method}_seconds"] = round(seconds, 1)
        results["few_shot"]["classes"], results["few_shot"]["test_clips"] = rows[0]["classes"], rows[0]["test_clips"]
    split = base_novel_split(classes)
    base = zero_shot(args, checkpoint, data / "test.csv", split.base, "test-base")
    novel = zero_shot(args, checkpoint, data / "test.csv", split.novel, "test-novel")
    results["base2novel"]["zero_shot"] = {"base_top1": base, "novel_top1": novel, "hm": harmonic_mean(base, novel)}
    for method, lr in (("vl", args.prompt_lr), ("full", args.full_lr)):
        rows, seconds = protocol(args, checkpoint, data, "base2novel", method, str(args.base_shots), lr)
        results["base2novel"][method] = {
            k: rows[0][k] for k in ("base_top1", "novel_top1", "hm", "base_classes", "novel_classes")
        }
        results["base2novel"][f"{method}_seconds"] = round(seconds, 1)
    return results


def print_tables(args, results: dict) -> None:
    few = results["few_shot"]
    print(
        f"\nFew-shot (Table 7's shape): {args.model} bridged on {args.bridge_epochs} epochs of captions, then K clips per "
        f"class of {few['classes']} classes, {args.few_shot_epochs} epochs, batch {args.protocol_batch_size}, prompts "
        f"{args.prompt_tokens} tokens x depth {args.prompt_depth}; top-1 on {few['test_clips']} test clips\n"
    )
    print("| method | " + " | ".join(f"K={k}" for k in args.shots) + " | seconds (all K) |")
    print("|---|" + "---|" * (len(args.shots) + 1))
    print("| frozen bridged model (zero-shot) | " + " | ".join(f"{few['zero_shot']:.3f}" for _ in args.shots) + " | - |")
    for method, title in (("vl", f"VL prompts, lr {args.prompt_lr:g}"), ("full", f"full fine-tuning, lr {args.full_lr:g}")):
        cells = " | ".join(f"{few[method][str(k)]:.3f}" for k in args.shots)
        print(f"| {title} | {cells} | {few[f'{method}_seconds']:.0f} |")
    b2n = results["base2novel"]
    vl = b2n["vl"]
    print(
        f"\nBase-to-novel (Table 8's shape): {vl['base_classes']} base / {vl['novel_classes']} novel classes, "
        f"{args.base_shots} clips per base class, {args.base2novel_epochs} epochs\n"
    )
    print("| method | base top-1 | novel top-1 | HM | seconds |")
    print("|---|---|---|---|---|")
    zs = b2n["zero_shot"]
    print(f"| frozen bridged model (zero-shot) | {zs['base_top1']:.3f} | {zs['novel_top1']:.3f} | {zs['hm']:.3f} | - |")
    for method, title in (("vl", "VL prompts"), ("full", "full fine-tuning")):
        m = b2n[method]
        print(f"| {title} | {m['base_top1']:.3f} | {m['novel_top1']:.3f} | {m['hm']:.3f} | {b2n[f'{method}_seconds']:.0f} |")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "vidseek-bench-prompting")
    parser.add_argument("--n", type=int, default=1800, help="clips per synthetic set (default: 1800)")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="vidseek-tiny")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32, help="the bridge's batch (default: 32)")
    parser.add_argument(
        "--protocol-batch-size", type=int, default=8, help="few-shot and base-to-novel batches: the reference's 4 x 2 accumulated"
    )
    parser.add_argument("--prompt-tokens", type=int, default=10, help="the reference's few-shot configs' 10")
    parser.add_argument("--prompt-depth", type=int, default=2, help="every layer of vidseek-tiny (the reference: 12 of 12)")
    parser.add_argument("--template", default="a {}", help="prompt around the 'colour shape' labels")
    parser.add_argument("--bridge-epochs", type=int, default=30)
    parser.add_argument("--bridge-lr", type=float, default=1e-3, help="random init: the bridge learns the words")
    parser.add_argument("--shots", type=lambda s: [int(k) for k in s.split(",")], default=[2, 4, 8, 16])
    parser.add_argument("--base-shots", type=int, default=16, help="clips per base class (the paper's 16)")
    parser.add_argument("--few-shot-epochs", type=int, default=50, help="the reference's few-shot configs' 50")
    parser.add_argument("--base2novel-epochs", type=int, default=11, help="the reference's base-to-novel configs' 11")
    parser.add_argument("--prompt-lr", type=float, default=8e-3, help="the reference's few-shot prompting rate")
    parser.add_argument("--full-lr", type=float, default=1e-4, help="full fine-tuning of the bridged tiny model")
    args = parser.parse_args()
    args.out = args.out.resolve()
    return args


def main() -> int:
    args = parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = run(args)
    (args.out / "results.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, **results}, indent=2))
    print_tables(args, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
