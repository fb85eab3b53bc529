"""``vidseek synth``, ``finetune``, ``eval`` and ``model inspect`` as a user runs them (real subprocesses)."""

import json

import pytest
import torch

from tests.models.test_checkpoints import vificlip_layout
from tests.test_cli import vidseek

TINY = ("--model", "vidseek-tiny", "--pretrained", "none")


@pytest.fixture(scope="module")
def synth_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    result = vidseek("synth", root / "data", "--n", "12", "--seed", "2", "--workers", "1")
    return root, result


def test_synth_writes_the_two_sets(synth_set):
    root, result = synth_set
    assert "wrote 10 training and 2 test clips" in result.stdout and "only in test" in result.stdout
    header, *rows = (root / "data" / "train.csv").read_text().splitlines()
    assert header == "video,caption,label" and len(rows) == 10
    assert all((root / "data" / row.split(",")[0]).is_file() for row in rows)


def test_finetune_then_eval_with_the_checkpoint(synth_set):
    root, _ = synth_set
    data, cache, out = root / "data", root / "cache", root / "ft" / "model.pt"
    args = ("finetune", data / "train.csv", *TINY, "--out", out, "--cache-dir", cache, "--epochs", "2", "--batch-size", "4")
    trained = vidseek(*args, "--lr", "1e-3", "--val", data / "test.csv")
    assert "wrote" in trained.stdout and out.is_file()
    log = json.loads(out.with_suffix(".log.json").read_text())
    assert [e["epoch"] for e in log["epochs"]] == [1, 2] and "t2v_r1" in log["epochs"][-1]["val"]
    assert log["options"]["lr"] == 1e-3 and log["target"] == "caption"
    assert log["options"]["recipe"] == "vidseek" and log["options"]["mixup"] == 0 and "recipe vidseek" in trained.stderr

    eval_args = ("eval", data / "test.csv", "--model", "vidseek-tiny", "--pretrained", out, "--cache-dir", cache, "--json")
    after = json.loads(vidseek(*eval_args).stdout)
    for key in ("t2v_r1", "t2v_r5", "t2v_r10", "t2v_medr", "t2v_mnr", "v2t_r1", "zs_top1", "zs_top5"):
        assert key in after
    assert after["videos"] == 2 and 0.0 <= after["t2v_r1"] <= 1.0 and after["t2v_medr"] >= 1
    assert after["pretrained"] == str(out.resolve())

    inspected = vidseek("model", "inspect", out, "--model", "vidseek-tiny").stdout
    assert "format:      vidseek-finetune" in inspected and "fits:        vidseek-tiny" in inspected


def test_finetune_on_labels_skips_a_bad_video(synth_set, tmp_path):
    root, _ = synth_set
    data = root / "data"
    lines = (data / "train.csv").read_text().splitlines()
    rows = [line.split(",") for line in lines[1:5]]
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    labelled = ["video,label"] + [f"{data / r[0]},{r[-1]}" for r in rows] + ["bad.mp4,broken"]
    (tmp_path / "labels.csv").write_text("\n".join(labelled) + "\n")
    result = vidseek(
        "finetune", tmp_path / "labels.csv", *TINY, "--out", tmp_path / "l.pt", "--cache-dir", tmp_path / "c", "--epochs", "1",
        "--resume",  # nothing to resume yet: starts afresh
    )  # fmt: skip
    assert "skipped" in result.stderr and "bad.mp4" in result.stderr and "on 4 clips (labels)" in result.stderr
    assert "recipe vificlip" in result.stderr  # the default for labels
    options = json.loads((tmp_path / "l.log.json").read_text())["options"]
    recorded = [options[key] for key in ("target", "recipe", "label_smoothing", "mixup", "cutmix", "warmup_epochs")]
    assert recorded == ["label", "vificlip", 0.1, 0.8, 1.0, 5]


def test_finetune_refuses_mixup_on_captions(synth_set, tmp_path):
    root, _ = synth_set
    args = ("finetune", root / "data" / "train.csv", *TINY, "--out", tmp_path / "m.pt", "--cache-dir", root / "cache")
    r = vidseek(*args, "--target", "caption", "--mixup", "0.8", check=False)
    assert r.returncode == 2 and "need label data" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "m.pt").exists()


def test_model_inspect_finds_a_vificlip_checkpoint(tmp_path, _tiny_encoder):
    path = tmp_path / "vifi_clip.pth"
    torch.save(vificlip_layout(_tiny_encoder.model, config={"DATA": {"NUM_FRAMES": 16}}), path)
    out = vidseek("model", "inspect", path, "--model", "vidseek-tiny").stdout
    assert "format:      vifi-clip" in out and "QuickGELU" in out and "prompt_learner" in out and "frames:      16" in out
    assert "fits:        vidseek-tiny" in out


def test_model_errors_are_one_clear_line(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    r = vidseek("model", "inspect", junk, check=False)
    assert r.returncode == 2 and "cannot read weights file" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "bad.csv").write_text("file,text\nx.mp4,y\n")
    r = vidseek("eval", tmp_path / "bad.csv", *TINY, check=False)
    assert r.returncode == 2 and "'video' column" in r.stderr
