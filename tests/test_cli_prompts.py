"""A VL-prompted checkpoint through every command (ViFi-CLIP's bridge-and-prompt, issue 16): ``finetune --prompts vl``
writes the prompts, then ``index build``, ``search``, the server's /search and /classify, ``classify``, ``eval`` and
``model inspect`` use them, and an index and a model that disagree about prompts refuse each other."""

import contextlib
import io
import json

import pytest
import torch
from fastapi.testclient import TestClient

from app.cli import main
from app.main import create_app
from app.services import VidseekService
from app.settings import Settings
from indexer import read_manifest
from models import load_encoder
from tests.videos import make_video

COLOURS = {"red": (230, 20, 20), "green": (20, 200, 40), "blue": (20, 40, 230)}
TINY = ("--model", "vidseek-tiny")
FRAMES = ("--frames", "2")


def vidseek(capsys, *args) -> tuple[int, str, str]:
    """The command in this process (the model and torch load once for the module): its status, stdout and stderr."""
    capsys.readouterr()
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def prompted(tmp_path_factory):
    """Six labelled clips, two per colour (a label CSV, paths relative to it)."""
    root = tmp_path_factory.mktemp("prompts")
    rows = ["video,label"]
    for name, rgb in COLOURS.items():
        for n in range(2):
            make_video(root / "lib" / f"{name}{n}.mp4", 1, fps=4, color=rgb, size=(64, 48))
            rows.append(f"lib/{name}{n}.mp4,{name}")
    (root / "train.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def trained(prompted):
    """What ``vidseek finetune --prompts vl`` then ``index build --pretrained`` the prompts said, once for the module
    (capsys is per test: captured by hand)."""
    out, err = io.StringIO(), io.StringIO()
    args = ("finetune", prompted / "train.csv", *TINY, "--pretrained", "none", "--prompts", "vl", "--prompt-tokens", "2",
            "--prompt-depth", "2", "--epochs", "2", "--batch-size", "3", "--out", prompted / "p.safetensors",
            "--cache-dir", prompted / "cache", *FRAMES, "--no-progress")  # fmt: skip
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in args])
    assert status == 0, err.getvalue()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        built = main(["index", "build", str(prompted / "lib"), "--index-dir", str(prompted / "index"), *TINY,
                      "--pretrained", str(prompted / "p.safetensors"), *FRAMES, "--workers", "1"])  # fmt: skip
    assert built == 0, err.getvalue()
    return prompted, out.getvalue(), err.getvalue()


def test_finetune_learns_only_the_prompts_and_says_so(trained):
    root, out, err = trained
    assert "VL prompts (2 tokens, depth 2) on a frozen vidseek-tiny/none on 6 clips (labels)" in err
    assert "lr 0.008" in err and "wrote" in out
    log = json.loads((root / "p.log.json").read_text())
    assert log["options"]["prompts"] == "vl" and log["options"]["lr"] == 8e-3 and len(log["epochs"]) == 2
    loaded = load_encoder("vidseek-tiny", str(root / "p.safetensors"), "cpu")  # a base of "none": rebuilt, seeded
    base = load_encoder("vidseek-tiny", "none", "cpu")
    assert all(torch.equal(value, base.model.state_dict()[key]) for key, value in loaded.model.state_dict().items())
    assert loaded.spec.prompts["base_pretrained"] == "none" and loaded.spec.fingerprint.startswith(base.spec.fingerprint + "+vl:")


def test_the_index_records_the_prompts_and_search_uses_them(trained, capsys):
    root, _, _ = trained
    manifest = read_manifest(root / "index")
    assert manifest.count == 6 and manifest.pretrained == str((root / "p.safetensors").resolve())
    assert manifest.prompts == {"kind": "vl", "tokens": 2, "depth": 2, "base_pretrained": "none",
                                "base_fingerprint": load_encoder("vidseek-tiny", "none", "cpu").spec.fingerprint}  # fmt: skip
    assert "+vl:" in manifest.weights_fingerprint
    status, out, _ = vidseek(capsys, "search", "red", "--index-dir", root / "index", "--json", "-k", "3")
    assert status == 0 and len(json.loads(out)["results"]) == 3


def test_the_server_answers_search_and_classify_with_the_prompts(trained):
    root, _, _ = trained
    settings = Settings(index_dir=root / "index")
    service = VidseekService(settings)  # the index's own model: the prompts file, on its base
    assert (
        service.encoder.prompts is not None
        and service.encoder.spec.fingerprint == read_manifest(root / "index").weights_fingerprint
    )
    with TestClient(create_app(settings, service)) as client:
        found = client.get("/search", params={"q": "a video of green.", "k": 2})
        assert found.status_code == 200 and len(found.json()["results"]) == 2
        with open(root / "lib" / "blue0.mp4", "rb") as f:
            r = client.post("/classify", files={"file": ("blue0.mp4", f, "video/mp4")}, data={"labels": "red,green,blue"})
        assert r.status_code == 200 and sorted(x["label"] for x in r.json()["labels"]) == ["blue", "green", "red"]


def test_classify_eval_and_inspect_take_the_prompts_file(trained, capsys):
    root, _, _ = trained
    status, out, _ = vidseek(capsys, "classify", root / "lib" / "red0.mp4", "--labels", "red,green,blue", "--index-dir",
                             root / "index", "--json")  # fmt: skip
    assert status == 0 and abs(sum(x["probability"] for x in json.loads(out)["labels"]) - 1) < 1e-5
    status, out, err = vidseek(capsys, "eval", root / "train.csv", *TINY, "--pretrained", root / "p.safetensors",
                               "--cache-dir", root / "cache", *FRAMES, "--json", "--no-progress")  # fmt: skip
    assert status == 0, err
    result = json.loads(out)
    assert (
        result["clips"] == 6 and 0 <= result["zs_top1"] <= 1 and result["pretrained"] == str((root / "p.safetensors").resolve())
    )
    status, out, _ = vidseek(capsys, "model", "inspect", root / "p.safetensors", "--model", "vidseek-tiny")
    assert status == 0 and "vidseek-prompts" in out and "2 tokens per layer, depth 2" in out


def test_an_index_and_a_model_that_disagree_about_prompts_refuse_each_other(trained, capsys, tmp_path):
    root, _, _ = trained
    status, _, err = vidseek(capsys, "search", "red", "--index-dir", root / "index", *TINY, "--pretrained", "none")
    assert status == 2 and "VL-prompted (2 tokens, depth 2)" in err and "VL prompts the server lacks" in err
    status, _, err = vidseek(capsys, "serve", "--index-dir", root / "index", *TINY, "--pretrained", "none")
    assert status == 2 and "refusing to serve" in err and "VL prompts" in err
    status, _, err = vidseek(capsys, "index", "build", root / "lib", "--index-dir", tmp_path / "base", *TINY, "--pretrained",
                             "none", *FRAMES, "--workers", "1")  # fmt: skip
    assert status == 0, err
    status, _, err = vidseek(
        capsys, "search", "red", "--index-dir", tmp_path / "base", *TINY, "--pretrained", root / "p.safetensors"
    )
    assert status == 2 and "built without the VL prompts the server has" in err


def test_prompts_and_freeze_are_refused_together(prompted, capsys, tmp_path):
    status, _, err = vidseek(capsys, "finetune", prompted / "train.csv", *TINY, "--pretrained", "none", "--prompts", "vl",
                             "--freeze", "text", "--out", tmp_path / "x.safetensors", "--cache-dir", prompted / "cache",
                             *FRAMES)  # fmt: skip
    assert status == 2 and "--freeze" in err and not (tmp_path / "x.safetensors").exists()


def test_training_on_from_a_prompts_file(trained, capsys, tmp_path):
    root, _, _ = trained
    args = ("finetune", root / "train.csv", *TINY, "--pretrained", root / "p.safetensors", "--epochs", "1", "--batch-size",
            "3", "--cache-dir", root / "cache", *FRAMES, "--no-progress")  # fmt: skip
    status, _, err = vidseek(capsys, *args, "--prompts", "vl", "--out", tmp_path / "q.safetensors")
    assert status == 0, err
    assert (
        f"VL prompts (2 tokens, depth 2) on a frozen vidseek-tiny/none, training on {(root / 'p.safetensors').resolve()}" in err
    )
    again = load_encoder("vidseek-tiny", str(tmp_path / "q.safetensors"), "cpu")
    assert again.spec.prompts["base_pretrained"] == "none"  # the base, not the prompts it started from
    status, _, err = vidseek(capsys, *args, "--out", tmp_path / "full.safetensors")  # no --prompts: not a full fine-tune
    assert status == 2 and "VL-prompted" in err and not (tmp_path / "full.safetensors").exists()
