"""The local runner's workers: the pool of decode worker processes (spawning, restarting, killing a hung one),
the clock that times their tasks out, and how many threads torch gets beside them; one count of usable cores.

Torch-free at import: the pool's worker initializer lives here, and decode workers are spawned processes that
must not import torch (seconds and memory each); :class:`EmbedThreads` imports it when built.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np

from indexer.clips import start_worker
from indexer.cores import usable_cores


def _start_decode_worker(pids, parent_pid: int, workers_up, decoder: str) -> None:
    """Worker initializer: note this worker's pid in ``pids`` (so that :meth:`DecodePool.kill` can stop a hung
    task, which no public API of the pool can cancel), then start as every decode worker does."""
    with pids.get_lock():
        for slot in range(len(pids)):
            if pids[slot] == 0:
                pids[slot] = os.getpid()
                break
    start_worker(parent_pid, workers_up, decoder)


class DecodePool:
    """``workers`` spawned decode processes (a ProcessPoolExecutor), renewed by :meth:`restart` when one died."""

    def __init__(self, workers: int, decoder: str):
        self.workers = workers
        self.decoder = decoder
        self.executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")
        self.workers_up = context.Value("i", 0)  # raised by each worker of this pool once it has started
        self.pids = context.Array("i", self.workers)  # filled by each worker of this pool as it starts
        return ProcessPoolExecutor(
            self.workers,
            mp_context=context,
            initializer=_start_decode_worker,
            initargs=(self.pids, os.getpid(), self.workers_up, self.decoder),
        )

    @property
    def started(self) -> int:
        """How many workers of the current pool are up (a task handed to one still starting is not running yet)."""
        return self.workers_up.value

    def submit(self, fn, *args) -> Future:
        return self.executor.submit(fn, *args)

    def kill(self) -> None:
        """Stop every worker of the current pool at once (its tasks then fail with BrokenProcessPool)."""
        with self.pids.get_lock():
            pids = [pid for pid in self.pids if pid]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def restart(self) -> None:
        """Leave the current pool (broken, or killed) and its queued tasks; later tasks go to a new one."""
        self.shutdown()
        self.executor = self._new_executor()

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


class TaskClock:
    """When each decode task was first seen running, to give up a file whose task runs past ``file_timeout``."""

    def __init__(self, file_timeout: float):
        self.file_timeout = file_timeout
        self.started_at: dict[Future, float | None] = {}

    def submitted(self, future: Future) -> None:
        self.started_at[future] = None

    def forget(self, future: Future) -> None:
        self.started_at.pop(future, None)

    def clear(self) -> None:
        self.started_at.clear()

    def overdue(self, in_flight: list[Future], workers_up: int) -> list[Future]:
        """The tasks of ``in_flight`` (in submission order) that have run longer than ``file_timeout``.

        A task's clock starts when it is first seen running, and not before a worker is up: a task handed to a
        worker that is still starting (seconds, on a busy machine) looks running already."""
        if not workers_up:
            return []
        now = time.monotonic()
        overdue = []
        for future in in_flight:
            if self.started_at.get(future) is None and future.running():
                self.started_at[future] = now
            started = self.started_at.get(future)
            if started is not None and now - started > self.file_timeout:
                overdue.append(future)
        # Futures queued behind a hung worker look "running" too; only the oldest ones can really be running.
        order = {future: position for position, future in enumerate(in_flight)}
        return sorted(overdue, key=lambda f: (self.started_at[f], order[f]))[:workers_up]


class EmbedThreads:
    """How many threads torch gets for a batch, so the encoder and the decode workers do not fight over cores.

    While the decoders are the slower stage they keep every core they have busy; torch's OpenMP threads would
    then wait for one another at every layer for a core (on 2 busy cores, 2 threads embedded the tiny model at
    1/8th to 1/20th of the speed of 1 thread, and slowed the whole build up to 2x). So when the encoder had to wait
    for decoded segments before a batch, that batch gets the cores the workers leave (at least one); otherwise
    (the encoder is the slower stage, or nothing is known yet: the first batch) all of torch's threads. torch's
    thread count is per thread (OpenMP), so it is set in the embedding thread; :meth:`restore` puts back the
    process-wide default.
    """

    def __init__(self, workers: int):
        import torch

        self.torch = torch
        self.all = torch.get_num_threads()
        self.spare = max(1, min(self.all, usable_cores() - workers))
        self.current: int | None = None

    def embed(self, encoder, clips: list[np.ndarray], share_cores: bool) -> np.ndarray:
        threads = self.spare if share_cores else self.all
        if threads != self.current:
            self.torch.set_num_threads(threads)
            self.current = threads
        return encoder.encode_videos(clips)

    def restore(self) -> None:
        if self.current is not None and self.current != self.all:
            self.torch.set_num_threads(self.all)
