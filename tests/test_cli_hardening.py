"""The ``vidseek`` command on the paths a user trips over: re-running a build without repeating the model, a typo
in an option, a file given as LIBRARY, ``search --json`` against GET /search; and installing the package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.services import VidseekService
from app.settings import Settings
from tests.videos import make_video

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
ENV.pop("VIDSEEK_INDEX_DIR", None)
ENV.pop("VIDSEEK_MODEL", None)
ENV.pop("VIDSEEK_PRETRAINED", None)


def vidseek(*args) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "app.cli", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=300)


def build_tiny(library: Path, index_dir: Path) -> None:
    """Index ``library`` with vidseek-tiny and random weights, the model the offline cache always has."""
    built = vidseek(
        "index", "build", library, "--index-dir", index_dir, "--model", "vidseek-tiny", "--pretrained", "none", "--frames", "2"
    )
    assert built.returncode == 0, built.stderr


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory):
    """A library of one clip and its index."""
    root = tmp_path_factory.mktemp("cli-hardening")
    make_video(root / "videos" / "red.mp4", 2, color=(220, 30, 30))
    build_tiny(root / "videos", root / "index")
    return root / "videos", root / "index"


def test_a_rebuild_without_model_options_uses_the_index_s_own_model(tmp_path):
    library, index_dir = tmp_path / "videos", tmp_path / "index"
    make_video(library / "red.mp4", 2, color=(220, 30, 30))
    build_tiny(library, index_dir)
    make_video(library / "blue.mp4", 2, color=(30, 40, 220))
    again = vidseek("index", "build", library, "--index-dir", index_dir, "--frames", "2", "--no-progress")
    assert again.returncode == 0, again.stderr  # offline: a fallback to ViT-B-32 / openai would need a download
    assert "with vidseek-tiny/none" in again.stderr and "indexed 1 file(s)" in again.stdout


def test_a_build_with_stderr_in_a_file_reports_its_progress_in_lines(tmp_path):
    """Not on a terminal (here a pipe), the build still says how far it is: a line counting segments, no bar."""
    library, index_dir = tmp_path / "videos", tmp_path / "index"
    make_video(library / "red.mp4", 2, color=(220, 30, 30))
    built = vidseek(
        "index", "build", library, "--index-dir", index_dir, "--model", "vidseek-tiny", "--pretrained", "none", "--frames", "2"
    )
    assert built.returncode == 0, built.stderr
    lines = [line for line in built.stderr.splitlines() if line.startswith("indexing: ")]
    assert lines and "segments" in lines[-1] and "1/1 files" in lines[-1], built.stderr
    assert "\r" not in built.stderr  # a tqdm bar redraws with carriage returns

    quiet = vidseek("index", "build", library, "--index-dir", index_dir, "--rebuild", "--frames", "2", "--no-progress")
    assert quiet.returncode == 0 and "indexing: " not in quiet.stderr, quiet.stderr


def test_the_index_s_weights_are_the_default_only_for_the_index_s_own_model():
    from app.settings import model_to_load  # here: the old code has none

    manifest = SimpleNamespace(model="vidseek-tiny", pretrained="/weights/tiny-finetuned.pt")
    unset = {"model": None, "pretrained": None}
    assert model_to_load(Settings(**unset), manifest) == ("vidseek-tiny", "/weights/tiny-finetuned.pt")
    assert model_to_load(Settings(**{**unset, "pretrained": "none"}), manifest) == ("vidseek-tiny", "none")
    assert model_to_load(Settings(**{**unset, "model": "ViT-B-16"}), manifest) == ("ViT-B-16", "openai")
    assert model_to_load(Settings(**unset), None) == ("ViT-B-32", "openai")


def test_a_misspelt_option_is_reported_with_the_command_s_own_usage(tiny_index):
    library, index_dir = tiny_index
    typo = vidseek("index", "build", library, "--index-dir", index_dir, "--modle", "vidseek-tiny")
    assert typo.returncode == 2
    assert typo.stderr.startswith("usage: vidseek index build ")
    assert "vidseek index build: error: unrecognized arguments: --modle vidseek-tiny (did you mean --model?)" in typo.stderr
    search = vidseek("search", "red", "--index-dir", index_dir, "--jsno")
    assert search.returncode == 2 and search.stderr.startswith("usage: vidseek search ")
    assert "did you mean --json?" in search.stderr
    top = vidseek("--verbsoe", "search", "red")  # before any command it is the top-level parser's to report
    assert top.returncode == 2 and top.stderr.startswith("usage: vidseek [-h]")


def test_a_file_as_library_fails_before_the_model_loads(tiny_index, tmp_path):
    library, _ = tiny_index
    # ViT-B-32 / openai is not in the offline cache: had the model loaded first, that would be the error.
    given = vidseek(
        "index", "build", library / "red.mp4", "--index-dir", tmp_path / "i", "--model", "ViT-B-32", "--pretrained", "openai"
    )
    assert given.returncode == 2
    assert "must be a folder" in given.stderr and f"{library / 'red.mp4'} is a file" in given.stderr
    assert "indexing" not in given.stderr and "weights" not in given.stderr.lower()
    assert not (tmp_path / "i").exists()


def test_search_json_has_the_shape_of_get_search(tiny_index):
    _, index_dir = tiny_index
    printed = vidseek("search", "  a red clip ", "-k", "2", "--json", "--index-dir", index_dir)
    assert printed.returncode == 0, printed.stderr
    body = json.loads(printed.stdout)
    settings = Settings(index_dir=index_dir)
    with TestClient(create_app(settings, VidseekService(settings))) as client:
        api = client.get("/search", params={"q": "  a red clip ", "k": 2}).json()
    assert set(body) == set(api) and body["mode"] == "text" and body["like"] is None
    assert body["query"] == api["query"] == "a red clip"
    assert body["total"] == api["total"] and [r["segment_id"] for r in body["results"]] == [
        r["segment_id"] for r in api["results"]
    ]
    assert [set(r) for r in body["results"]] == [set(r) for r in api["results"]]


def test_the_package_builds_without_a_setuptools_warning(tmp_path):
    """`pip install -e .` used to print ~60 lines of setuptools warnings (license table, data folders)."""
    tree = tmp_path / "src"
    for name in ("app", "indexer", "models", "templates"):
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    build = (
        "import os, sys, warnings\n"
        "from setuptools import build_meta\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    wheel = build_meta.build_wheel(sys.argv[1])\n"
        "    build_meta.build_editable(sys.argv[1])\n"
        "print(wheel)\n"
        "for w in caught: print('WARNING', w.category.__name__, str(w.message).splitlines()[0], file=sys.stderr)\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        done = subprocess.run(
            [sys.executable, "-c", build, str(tmp_path / "dist")], cwd=tree, capture_output=True, text=True, timeout=300
        )
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    names = zipfile.ZipFile(tmp_path / "dist" / done.stdout.split()[-1]).namelist()
    assert (
        "models/configs/vidseek-tiny.json" in names
        and "templates/static/js/search.js" in names
        and "templates/static/css/base.css" in names
    )
    # pyproject.toml lists the packages: one left out is missing from an installed vidseek (the Docker images).
    inits = [init for name in ("app", "indexer", "models") for init in (ROOT / name).rglob("__init__.py")]
    packages = {init.parent.relative_to(ROOT).as_posix() for init in inits}
    missing = packages - {name.rpartition("/")[0] for name in names}
    assert not missing, f"not in [tool.setuptools] packages: {sorted(missing)}"
