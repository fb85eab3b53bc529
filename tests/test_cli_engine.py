"""``--engine`` of ``vidseek index build`` and ``vidseek serve``: what the manifest records, where the graphs go, and
queries served with an engine's text tower."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.videos import make_video

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

MODEL = ("--model", "vidseek-tiny", "--pretrained", "none", "--frames", "4", "--segments", "fixed", "--no-progress")


def vidseek(*args, env, check=True):
    command = [sys.executable, "-m", "app.cli", *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"vidseek {' '.join(map(str, args))} -> {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def engine_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine-cli")
    library = root / "videos"
    make_video(library / "red.mp4", 3, color=(220, 30, 30))
    make_video(library / "blue.mp4", 2, color=(30, 40, 220))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": str(root / "cache"), "PYTHONUNBUFFERED": "1"}
    env.pop("VIDSEEK_INDEX_DIR", None)
    return root, library, env


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_build_with_onnxruntime_records_engine_and_precision(engine_env, precision):
    root, library, env = engine_env
    index_dir = root / f"index-{precision}"
    engine = ("--engine", "onnxruntime", "--precision", precision)
    result = vidseek("index", "build", library, "--index-dir", index_dir, *MODEL, *engine, env=env)
    assert "indexed 2 file(s)" in result.stdout
    assert f"on cpu in {precision}, 16 segments per batch, with onnxruntime" in result.stderr
    recorded = _manifest_of(index_dir)
    assert recorded["extra"]["engine"] == "onnxruntime" and recorded["extra"]["precision"] == precision
    # The graphs are cached for the weights under the user's cache folder, never in the index dir.
    assert not list(index_dir.rglob("*.onnx"))
    cached = list((root / "cache" / "vidseek" / "engines").rglob("image.*.onnx"))
    assert any(p.name.startswith(f"image.{precision}") for p in cached)


def _manifest_of(index_dir):
    found = sorted(index_dir.rglob("manifest.json"))
    assert found, f"no manifest under {index_dir}"
    return json.loads(found[-1].read_text())


def test_torch_build_records_torch(engine_env):
    root, library, env = engine_env
    index_dir = root / "index-torch"
    vidseek("index", "build", library, "--index-dir", index_dir, *MODEL, "--engine", "torch", "--precision", "float32", env=env)
    extra = _manifest_of(index_dir)["extra"]
    assert (extra["engine"], extra["precision"]) == ("torch", "float32")


def test_an_engine_that_cannot_run_is_one_clear_line(engine_env):
    root, library, env = engine_env
    engine = ("--engine", "onnxruntime", "--precision", "bfloat16")
    result = vidseek("index", "build", library, "--index-dir", root / "bad", *MODEL, *engine, env=env, check=False)
    assert result.returncode == 2 and "onnxruntime runs the image tower in float32, int8" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_incremental_build_embeds_as_its_index_was_built(engine_env, tmp_path):
    root, library, env = engine_env
    videos, index_dir = tmp_path / "videos", tmp_path / "index"
    shutil.copytree(library, videos)
    engine = ("--engine", "onnxruntime", "--precision", "float32")
    vidseek("index", "build", videos, "--index-dir", index_dir, *MODEL, *engine, env=env)
    make_video(videos / "green.mp4", 2, color=(30, 200, 30))
    result = vidseek("index", "build", videos, "--index-dir", index_dir, *MODEL, env=env)  # --engine auto
    assert "indexed 1 file(s)" in result.stdout and "with onnxruntime" in result.stderr
    assert _manifest_of(index_dir)["extra"]["engine"] == "onnxruntime"
    rebuilt = vidseek("index", "build", videos, "--index-dir", index_dir, *MODEL, "--rebuild", env=env)
    assert "with onnxruntime" not in rebuilt.stderr  # a rebuild chooses anew


def test_queries_served_with_an_engine_find_the_same_clips(engine_env, tmp_path, monkeypatch):
    from app.services import VidseekService
    from app.settings import Settings
    from models.engines import engine_label

    root, library, env = engine_env
    index_dir = root / "index-torch"
    if not index_dir.exists():
        vidseek("index", "build", library, "--index-dir", index_dir, *MODEL, "--engine", "torch", env=env)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # the service caches the text graph under the user's cache folder
    settings = Settings(index_dir=index_dir, text_precision="float32")
    torch_service = VidseekService(settings, query_engine="torch")
    engine_service = VidseekService(settings, query_engine="onnxruntime", encoder=torch_service.encoder)
    assert engine_label(engine_service.text_encoder, "text") == ("onnxruntime", "float32")
    assert list(tmp_path.rglob("text.float32.*.onnx"))
    for query in ("a red clip", "blue", "something else entirely"):
        ours, theirs = engine_service.queries.encode(query), torch_service.queries.encode(query)
        assert float(np.dot(ours, theirs)) >= 0.9999
        rows, total = engine_service.search_text(query, 5)
        theirs_rows, theirs_total = torch_service.search_text(query, 5)
        assert total == theirs_total > 0
        assert [hit.segment.segment_id for hit in rows] == [hit.segment.segment_id for hit in theirs_rows]
