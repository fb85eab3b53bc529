"""`kill -9` of an index build at any moment, then a re-run: the index equals an uninterrupted build."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from indexer.index_dir.reader import IndexReader
from tests.videos import make_video

BUILD = """
import sys
from pathlib import Path
from indexer.pipeline.local import build_index
from indexer.pipeline.options import BuildOptions
from models import load_encoder
encoder = load_encoder("vidseek-tiny", sys.argv[3], "cpu")
build_index(encoder, BuildOptions(Path(sys.argv[1]), Path(sys.argv[2]), frames=4, segment_seconds=2, batch_size=2,
                                  segments="fixed", workers=1, chunk_segments=2,
                                  checkpoint_seconds=float(sys.argv[4]), progress=False))
"""


def build(library, index_dir, weights, checkpoint_seconds=0.0, kill_after=None):
    args = [sys.executable, "-c", BUILD, str(library), str(index_dir), str(weights), str(checkpoint_seconds)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill_after is None:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err.decode()
        return True
    try:
        process.wait(timeout=kill_after)
        return False  # finished before the kill
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return True


def snapshot(index_dir):
    reader = IndexReader(index_dir)
    rows = []
    for video in reader.videos():
        segments = reader.video(video.id).segments if video.status == "indexed" else []
        rows.append((video.id, video.path.rsplit("/", 1)[-1], video.status, [(s.id, s.start, s.end) for s in segments]))
    vectors = {s[0]: reader.segment_vector(s[0]) for _, _, _, segs in rows for s in segs}
    return rows, vectors, reader.count


@pytest.fixture(scope="module")
def setup(tmp_path_factory, _tiny_encoder):
    root = tmp_path_factory.mktemp("crash")
    weights = root / "tiny.pt"
    torch.save(_tiny_encoder.model.state_dict(), weights)  # the same weights in every process
    library = root / "lib"
    for i in range(8):
        make_video(library / f"clip{i}.mp4", 3 + i, color=(30 * i, 200 - 20 * i, 90))
    (library / "broken.mp4").write_bytes(b"\0" * 4096)
    reference = root / "reference"
    started = time.monotonic()
    build(library, reference, weights)
    return root, library, weights, snapshot(reference), time.monotonic() - started


@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.75])
def test_killed_build_then_rerun_equals_uninterrupted(setup, fraction):
    """Killed at 25 %, 50 % and 75 % of an uninterrupted build's time (start-up, mid-way, late)."""
    root, library, weights, (rows, vectors, count), duration = setup
    index_dir = root / f"killed-{fraction}"
    build(library, index_dir, weights, kill_after=fraction * duration)  # (a run faster than the kill is checked all the same)
    build(library, index_dir, weights)
    got_rows, got_vectors, got_count = snapshot(index_dir)
    assert got_rows == rows
    assert got_count == count == len(vectors)
    for segment_id, vector in vectors.items():
        np.testing.assert_allclose(got_vectors[segment_id], vector, atol=1e-6)
    assert not list((index_dir / "generations").glob(".staging-*"))


def test_decode_workers_die_with_a_killed_build(setup):
    root, library, weights, _, duration = setup
    process = subprocess.Popen([sys.executable, "-c", BUILD, str(library), str(root / "orphans"), str(weights), "0"])
    try:
        started = time.monotonic()
        while time.monotonic() - started < 60:  # wait until its decode workers exist (a loaded machine: 20 s)
            children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
            if children:
                break
            time.sleep(0.1)
        assert children, "the build started no worker processes"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + 10
    alive = children
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in children if os.path.exists(f"/proc/{pid}") and "Z" not in _state(pid)]
        time.sleep(0.2)
    assert alive == [], f"orphaned workers: {alive}"


def _state(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2]
    except FileNotFoundError:
        return "Z"
