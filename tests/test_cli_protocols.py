"""``vidseek eval --protocol few-shot | base2novel`` as a user runs it: which clips train, which classes score, what
is refused, and that every K of one run starts from the same weights."""

import json
from pathlib import Path

import pytest
import torch

from tests.test_cli import vidseek

TINY = ("--model", "vidseek-tiny", "--pretrained", "none", "--no-progress", "--workers", "1")
CLASSES = (("red", "circle"), ("blue", "square"), ("yellow", "triangle"), ("green", "diamond"))
TRAIN_PER_CLASS, TEST_PER_CLASS = 4, 2


def write_labelled_set(root: Path) -> tuple[Path, Path]:
    """train.csv (4 clips of each of 4 classes) and test.csv (2 of each), columns video,label: small synthetic clips,
    4:3 and three times as many frames as a clip samples, so spatial crops and temporal views see different pixels."""
    from indexer.synth import SynthClip, SynthObject, render_clip, write_video

    paths = []
    for split, count in (("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)):
        rows = ["video,label"]
        for c, (colour, shape) in enumerate(CLASSES):
            clip = SynthClip("gray", (SynthObject(colour, shape, "large", "horizontally"),))
            for i in range(count):
                relative = f"{split}/{colour}-{shape}-{i}.mp4"
                seed = 100 * c + i + (50 if split == "test" else 0)
                frames = render_clip(clip, seed, seconds=3.0, fps=8, size=64)[:, 8:56]  # 48 x 64
                write_video(root / relative, frames, fps=8)
                rows.append(f"{relative},{colour} {shape}")
        (root / f"{split}.csv").write_text("\n".join(rows) + "\n")
        paths.append(root / f"{split}.csv")
    return paths[0], paths[1]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    root = tmp_path_factory.mktemp("labelled")
    train, test = write_labelled_set(root)
    return train, test, root / "cache"


def _eval(test, train, cache, *args, check=True):
    return vidseek("eval", test, *TINY, "--train", train, "--cache-dir", cache, "--epochs", "1", *args, check=check)


def _state(path: Path) -> dict:
    from models import load_encoder

    return load_encoder("vidseek-tiny", str(path), "cpu").model.state_dict()


def test_few_shot_full_trains_k_clips_per_class_and_restarts_every_k(labelled, tmp_path):
    train, test, cache = labelled
    steps = ("--epochs", "2", "--batch-size", "4")  # the recipe's warm-up starts at rate 0: one step would train nothing
    full = ("--protocol", "few-shot", "--method", "full", *steps)
    alone = _eval(test, train, cache, *full, "--shots", "2", "--out", tmp_path / "a.pt")
    assert "few-shot, full, vidseek-tiny / none, views 1x1" in alone.stdout
    assert "training full on 8 clips of 4 classes" in alone.stderr
    several = _eval(test, train, cache, *full, "--shots", "3,2", "--out", tmp_path / "b.pt", "--json")
    runs = [json.loads(line) for line in several.stdout.splitlines()]
    assert [r["shots"] for r in runs] == [3, 2]
    for run in runs:
        assert run["protocol"] == "few-shot" and run["method"] == "full" and run["views"] == "1x1"
        assert run["train_clips"] == run["shots"] * len(CLASSES) and run["classes"] == len(CLASSES)
        assert run["test_clips"] == TEST_PER_CLASS * len(CLASSES) and 0.0 <= run["top1"] <= 1.0
        assert run["model"] == "vidseek-tiny" and run["pretrained"] == "none"
    # The 2-shot run after a 3-shot one trained from the same weights as a 2-shot run alone: the same checkpoint.
    first, second = _state(tmp_path / "a.pt"), _state(tmp_path / "b-2shot.pt")
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    assert not all(torch.equal(first[k], v) for k, v in _state(tmp_path / "b-3shot.pt").items())
    torch.manual_seed(0)  # the random weights every run started from: training changed them
    assert not all(torch.equal(first[k], v) for k, v in _state("none").items())


def test_base2novel_vl_scores_base_and_novel_and_their_harmonic_mean(labelled):
    train, test, cache = labelled
    args = ("--protocol", "base2novel", "--shots", "3", "--method", "vl", "--prompt-tokens", "2", "--prompt-depth", "2")
    result = json.loads(_eval(test, train, cache, *args, "--json").stdout)
    assert result["protocol"] == "base2novel" and result["method"] == "vl" and result["shots"] == 3
    assert result["base_classes"] == result["novel_classes"] == 2 and result["train_clips"] == 3 * 2
    assert result["base_test_clips"] == result["novel_test_clips"] == 2 * TEST_PER_CLASS
    base, novel = result["base_top1"], result["novel_top1"]
    assert 0 <= base <= 1 and 0 <= novel <= 1
    assert result["hm"] == pytest.approx(0.0 if base + novel == 0 else 2 * base * novel / (base + novel))


def test_few_shot_vl_with_three_crops_two_views(labelled):
    train, test, cache = labelled
    args = ("--protocol", "few-shot", "--shots", "2", "--prompt-tokens", "2", "--prompt-depth", "1", "--views", "3x2")
    result = json.loads(_eval(test, train, cache, *args, "--json").stdout)  # --method vl is the default
    assert result["method"] == "vl" and result["views"] == "3x2" and result["train_clips"] == 2 * len(CLASSES)


@pytest.mark.parametrize(
    "args, reason",
    [
        (("--protocol", "few-shot", "--shots", "5", "--method", "full"), "5-shot training needs 5 clips of every class"),
        (("--protocol", "few-shot", "--shots", "2,x"), "--shots takes whole numbers"),
        (("--shots", "2"), "add --protocol few-shot or --protocol base2novel"),
        (("--protocol", "few-shot", "--method", "full", "--prompt-depth", "2"), "shape the prompts of --method vl"),
    ],
)
def test_protocol_refusals_exit_2_with_the_reason(labelled, args, reason):
    train, test, cache = labelled
    result = _eval(test, train, cache, *args, check=False)
    assert result.returncode == 2 and reason in result.stderr and "Traceback" not in result.stderr


def test_protocol_needs_train_and_labels(labelled, tmp_path):
    train, test, cache = labelled
    no_train = vidseek("eval", test, *TINY, "--protocol", "few-shot", check=False)
    assert no_train.returncode == 2 and "needs --train" in no_train.stderr
    rows = test.read_text().splitlines()
    unlabelled = tmp_path / "captions.csv"
    unlabelled.write_text("video,caption\n" + "".join(f"{test.parent / r.split(',')[0]},a clip\n" for r in rows[1:]))
    result = _eval(unlabelled, train, cache, "--protocol", "few-shot", "--shots", "2", check=False)
    assert result.returncode == 2 and "need a label on every row" in result.stderr
