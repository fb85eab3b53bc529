"""The ``vidseek`` command as a user runs it (real subprocesses, real files)."""

import json
import os
import subprocess
import sys

import pytest

from models.encoder import native_bfloat16
from tests.videos import make_corrupt, make_video

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "VIDSEEK_INDEX_DIR": "", "PYTHONUNBUFFERED": "1"}
ENV.pop("VIDSEEK_INDEX_DIR")


def vidseek(*args, check=True):
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", *map(str, args)], capture_output=True, text=True, env=ENV, timeout=300
    )
    if check and result.returncode != 0:
        raise AssertionError(f"vidseek {' '.join(map(str, args))} -> {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    library = root / "videos"
    make_video(library / "one.mp4", 2, color=(250, 0, 0))
    make_video(library / "two.webm", 12, color=(0, 0, 250), codec="libvpx-vp9")
    make_corrupt(library / "broken.avi")
    index_dir = root / "index"
    options = ("--model", "vidseek-tiny", "--pretrained", "none", "--frames", "4", "--segments", "fixed")  # 10 s windows
    result = vidseek("index", "build", library, "--index-dir", index_dir, *options)
    return library, index_dir, result


def test_build_summary_and_exit_status(cli_index):
    _, _, result = cli_index
    assert "indexed 2 file(s), 3 segment(s)" in result.stdout
    assert "failed 1" in result.stdout and "broken.avi" in result.stdout
    # --precision auto: frames embedded in bfloat16 where the CPU multiplies it in hardware
    assert f"on cpu in {'bfloat16' if native_bfloat16() else 'float32'}, 16 segments per batch" in result.stderr


def test_rebuild_is_incremental(cli_index):
    library, index_dir, _ = cli_index
    again = vidseek(
        "index", "build", library, "--index-dir", index_dir, "--model", "vidseek-tiny", "--pretrained", "none", "--frames", "4"
    )
    assert "indexed 0 file(s)" in again.stdout and "skipped 3 unchanged" in again.stdout


def test_search_json(cli_index):
    _, index_dir, _ = cli_index
    body = json.loads(
        vidseek("search", "a blue clip", "-k", "3", "--group", "segment", "--json", "--index-dir", index_dir).stdout
    )
    assert body["total"] == 3 and len(body["results"]) == 3
    assert {r["title"] for r in body["results"]} == {"one.mp4", "two.webm"}
    text = vidseek("search", "a blue clip", "--group", "segment", "--index-dir", index_dir).stdout
    assert "two.webm" in text and "00:10-00:12" in text


def test_classify_json(cli_index):
    library, index_dir, _ = cli_index
    body = json.loads(vidseek("classify", library / "one.mp4", "--labels", "red,blue", "--json", "--index-dir", index_dir).stdout)
    assert sorted(x["label"] for x in body["labels"]) == ["blue", "red"]


def test_errors_are_one_clear_line(cli_index, tmp_path):
    library, index_dir, _ = cli_index
    r = vidseek("search", "x", "--index-dir", tmp_path / "empty", check=False)
    assert r.returncode == 2 and "no index" in r.stderr and "Traceback" not in r.stderr
    r = vidseek("classify", library / "broken.avi", "--labels", "a,b", "--index-dir", index_dir, check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = vidseek(
        "index",
        "build",
        tmp_path / "missing",
        "--index-dir",
        tmp_path / "i",
        "--model",
        "vidseek-tiny",
        "--pretrained",
        "none",
        check=False,
    )
    assert r.returncode == 2 and "not found" in r.stderr
    r = vidseek("index", "build", library, "--index-dir", tmp_path / "i", "--batch-size", "0", check=False)
    assert r.returncode == 2 and "--batch-size: expected a positive number of segments or 'auto'" in r.stderr
    r = vidseek("search", "x", "--index-dir", index_dir, "--model", "ViT-B-32", "--pretrained", "none", check=False)
    assert r.returncode == 2 and "refusing to serve" in r.stderr


def test_all_files_failing_exits_nonzero(tmp_path):
    make_corrupt(tmp_path / "lib" / "a.mp4")
    r = vidseek(
        "index",
        "build",
        tmp_path / "lib",
        "--index-dir",
        tmp_path / "i",
        "--model",
        "vidseek-tiny",
        "--pretrained",
        "none",
        check=False,
    )
    assert r.returncode == 1 and "failed 1" in r.stdout


def test_fast_seek_builds_from_keyframes_and_needs_a_rebuild_to_switch(tmp_path):
    make_video(tmp_path / "lib" / "a.mp4", 3, gop=10)
    base = ["index", "build", str(tmp_path / "lib"), "--index-dir", str(tmp_path / "idx"), "--model", "vidseek-tiny"]
    base += ["--pretrained", "none", "--frames", "2", "--no-progress"]
    fast = vidseek(*base, "--fast-seek", check=False)
    assert fast.returncode == 0, fast.stderr
    assert json.loads((next((tmp_path / "idx" / "generations").iterdir()) / "manifest.json").read_text())["decoder"] == (
        "pyav-keyframes"
    )
    exact = vidseek(*base, check=False)
    assert exact.returncode != 0 and "--fast-seek" in exact.stderr
    clash = vidseek(*base, "--fast-seek", "--decoder", "decord", check=False)
    assert clash.returncode == 2 and "cannot be combined" in clash.stderr
