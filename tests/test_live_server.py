"""A real `vidseek serve` on loopback: hot reload during a rebuild, and a bounded mixed load."""

import os
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.liveserver import running_server
from tests.videos import make_video

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "VIDSEEK_RELOAD_INTERVAL_S": "0.2"}


def cli(*args):
    subprocess.run([sys.executable, "-m", "app.cli", *map(str, args)], check=True, env=ENV, capture_output=True, timeout=300)


@pytest.fixture()
def server(tmp_path):
    library = tmp_path / "lib"
    for i in range(3):
        make_video(library / f"c{i}.mp4", 2 + i, color=(80 * i, 50, 200 - 60 * i))
    index_dir = tmp_path / "index"
    cli("index", "build", library, "--index-dir", index_dir, "--model", "vidseek-tiny", "--pretrained", "none", "--frames", "4")
    with running_server(index_dir, ENV) as (base, process):
        yield base, library, index_dir, process


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def test_searches_keep_answering_while_the_index_is_rebuilt(server):
    base, library, index_dir, _ = server
    errors, totals, stop = [], [], threading.Event()

    def poll():
        with httpx.Client(base_url=base, timeout=10) as client:
            while not stop.is_set():
                r = client.get("/search", params={"q": "a clip", "k": 5})
                if r.status_code != 200:
                    errors.append((r.status_code, r.text))
                else:
                    totals.append(r.json()["total"])

    thread = threading.Thread(target=poll)
    thread.start()
    try:
        make_video(library / "new.mp4", 3, color=(1, 250, 1))
        cli(
            "index",
            "build",
            library,
            "--index-dir",
            index_dir,
            "--model",
            "vidseek-tiny",
            "--pretrained",
            "none",
            "--frames",
            "4",
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (not totals or totals[-1] != 4):
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert totals[0] == 3 and totals[-1] == 4  # switched to the new index without a restart
    assert sorted(totals) == totals  # never back to the old one


def test_bounded_mixed_load_has_no_errors_and_flat_memory(server):
    base, library, _, process = server
    clip = (library / "c0.mp4").read_bytes()
    seconds, clients = 15, 8
    errors, counts = [], []

    def client_loop(seed: int, until: float):
        done = 0
        with httpx.Client(base_url=base, timeout=30) as client:
            while time.monotonic() < until:
                if done % 10 == 9:
                    r = client.post("/classify", files={"file": ("c.mp4", clip, "video/mp4")}, data={"labels": "red,green,blue"})
                else:
                    r = client.get("/search", params={"q": f"query {seed} {done % 7}", "k": 8})
                if r.status_code != 200:
                    errors.append(r.status_code)
                done += 1
        counts.append(done)

    def run(duration):
        until = time.monotonic() + duration
        threads = [threading.Thread(target=client_loop, args=(i, until)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    run(3)  # warm-up: caches, allocator pools
    before = rss_mb(process.pid)
    counts.clear()
    run(seconds)
    after = rss_mb(process.pid)
    assert errors == []
    assert sum(counts) > clients  # every client got answers
    assert after - before < max(50.0, 0.15 * before), (before, after)
