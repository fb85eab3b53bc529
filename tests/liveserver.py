"""A real `vidseek serve` on a free loopback port, for tests and benchmarks that go over HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(
    index_dir: Path, env: dict, start_timeout_s: float = 120.0, args: tuple[str, ...] = ()
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start `vidseek serve` on ``index_dir`` (with ``args``), wait until /healthz answers, yield (base URL,
    process), stop it."""
    port = free_port()
    log = tempfile.TemporaryFile()  # a file, not a pipe: a chatty server never blocks on a full pipe
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--index-dir", str(index_dir), "--port", str(port), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                log.seek(0)
                raise RuntimeError(f"vidseek serve did not start: {log.read().decode(errors='replace')}")
            time.sleep(0.2)
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
