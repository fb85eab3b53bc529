"""clip-retrieval's ``clip_back`` as bench_peer.py's peer: its pinned virtualenv (built on the first run, then reused)
and the server running on a loopback port."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import httpx

from tests.liveserver import free_port

CLIP_RETRIEVAL = "clip-retrieval==2.45.0"
# Held in the peer venv beside vidseek's own torch/torchvision/faiss-cpu versions. clip-retrieval needs
# numpy<2 and open_clip<3; clip-anytorch (imported by all_clip) needs pkg_resources, gone in setuptools 81.
PEER_PINS = (
    "open-clip-torch==2.32.0",
    "numpy==1.26.4",
    "pandas==2.3.3",
    "pyarrow==15.0.2",
    "flask==3.1.3",
    "werkzeug==3.1.9",
    "setuptools<81",
)
SAME_AS_VIDSEEK = ("torch", "torchvision", "faiss-cpu")
PEER_SCRIPT = Path(__file__).resolve().with_name("clip_back_peer.py")


class BenchPeerError(Exception):
    """The peer could not be set up, or does not answer the same question as vidseek."""


# -- the peer's own virtualenv
def peer_constraints() -> list[str]:
    return [f"{name}=={metadata.version(name)}" for name in SAME_AS_VIDSEEK] + list(PEER_PINS)


def clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    return {**env, **extra}


def ensure_peer_venv(venv: Path) -> Path:
    """The python of a virtualenv with clip-retrieval installed: reused when built with the same pins."""
    python = venv / "bin" / "python"
    stamp = venv / ".vidseek-bench-peer.json"
    wanted = {"package": CLIP_RETRIEVAL, "constraints": peer_constraints(), "python": list(sys.version_info[:2])}
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted and python.is_file():
        return python
    if venv.exists():
        if not (venv / "pyvenv.cfg").is_file():
            raise BenchPeerError(f"{venv} exists and is not a virtualenv: choose another --peer-venv")
        shutil.rmtree(venv)
    print(f"building the clip-retrieval virtualenv in {venv} (first run only: a few minutes)", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    constraints = venv / "constraints.txt"
    constraints.write_text("\n".join(wanted["constraints"]) + "\n")
    torch_pins = wanted["constraints"][:2]
    log = venv / "install.log"
    with open(log, "w") as out:
        for step in (torch_pins, [CLIP_RETRIEVAL, "setuptools<81"]):
            done = subprocess.run(
                [str(python), "-m", "pip", "install", "-c", str(constraints), *step],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=clean_env(),
            )
            if done.returncode != 0:
                tail = "".join(log.read_text().splitlines(keepends=True)[-30:])
                raise BenchPeerError(f"pip install {' '.join(step)} failed in {venv} (full log: {log}):\n{tail}")
    check = subprocess.run(
        [str(python), "-c", "import all_clip, clip_retrieval.clip_back, torch"], capture_output=True, text=True, env=clean_env()
    )
    if check.returncode != 0:
        raise BenchPeerError(f"clip-retrieval does not import in {venv}:\n{check.stderr[-3000:]}")
    stamp.write_text(json.dumps(wanted))
    return python


@contextmanager
def running_clip_back(
    python: Path, kwargs: dict, env: dict, workdir: Path, start_timeout_s: float = 600.0
) -> Iterator[tuple[str, dict]]:
    """Start clip_back (via clip_back_peer.py serve) on a free loopback port; yield (base URL, its versions)."""
    port = free_port()
    log = tempfile.TemporaryFile()  # a file, not a pipe: Flask logs every request
    process = subprocess.Popen(
        [str(python), str(PEER_SCRIPT), "serve", json.dumps({**kwargs, "port": port})],
        env=env,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def output() -> str:
        log.seek(0)
        return log.read().decode(errors="replace")

    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                if httpx.get(f"{base}/indices-list", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise BenchPeerError(f"clip_back did not start:\n{output()[-5000:]}")
            time.sleep(0.5)
        line = next((ln for ln in output().splitlines() if ln.startswith("PEER-INFO ")), "PEER-INFO {}")
        yield base, json.loads(line.removeprefix("PEER-INFO "))
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
