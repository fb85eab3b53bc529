"""Shared fixtures: one tiny model per session (handed out as copies), a small real video library and its index,
and the real-world test videos fetched by ``make testdata``."""

from __future__ import annotations

import atexit
import copy
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network
# ... nor the user's cache folder: a service on a float32 CPU exports its text tower's graph there (models.engines)
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="vidseek-test-cache-")
atexit.register(shutil.rmtree, os.environ["XDG_CACHE_HOME"], True)

from tests.videos import make_corrupt, make_video  # noqa: E402

TINY = "vidseek-tiny"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")  # .ci/run sets CI=true, as CI services do


@pytest.fixture(scope="session")
def _tiny_encoder():
    from models import load_encoder

    return load_encoder(TINY, "none", "cpu")


@pytest.fixture()
def tiny_encoder(_tiny_encoder):
    return copy.deepcopy(_tiny_encoder)


@pytest.fixture(scope="session")
def library(tmp_path_factory) -> Path:
    """Five short clips of distinct colours (one longer than a segment, in a sub-folder) and a corrupt file."""
    root = tmp_path_factory.mktemp("library")
    make_video(root / "red.mp4", 3, color=(220, 30, 30))
    make_video(root / "green.mp4", 4, color=(30, 200, 40))
    make_video(root / "nested" / "blue_long.mp4", 25, color=(30, 40, 220), gop=40)
    make_video(root / "yellow.mov", 2.5, color=(230, 220, 30))
    make_corrupt(root / "corrupt.mp4")
    (root / "notes.txt").write_text("not a video, not even by name")
    return root


@pytest.fixture(scope="session")
def built_index(_tiny_encoder, library, tmp_path_factory) -> Path:
    from indexer.pipeline.local import build_index
    from indexer.pipeline.options import BuildOptions

    index_dir = tmp_path_factory.mktemp("index")
    report = build_index(
        _tiny_encoder,
        BuildOptions(library, index_dir, frames=4, segments="fixed", segment_seconds=10, batch_size=4, workers=2, progress=False),
    )
    assert report.indexed == 4 and len(report.failed) == 1
    return index_dir


@pytest.fixture(scope="session")
def real_library() -> Path:
    """The folder of real-world test videos (tests/realdata.py). Where it is missing or incomplete: a failure in CI,
    which must run these tests (.ci/run fetches them first), and a skip with the reason elsewhere."""
    from tests import realdata

    folder = realdata.configured_folder()
    if folder is None:
        problem = f"${realdata.ENV} is not set"
    elif absent := realdata.missing(folder):
        problem = f"${realdata.ENV}={folder} lacks {', '.join(absent)}"
    else:
        return folder
    message = (
        f"real test videos unavailable: {problem}; fetch them with 'make testdata' ('make test' then sets {realdata.ENV}), "
        f"or 'python -m tests.realdata fetch DIR' and {realdata.ENV}=DIR"
    )
    if IN_CI:
        pytest.fail(f"CI runs every test, and {message}", pytrace=False)
    pytest.skip(message)
