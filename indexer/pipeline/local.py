"""The local runner: decode tasks in a pool of worker processes (:mod:`indexer.pipeline.workers`), embedding in
one thread of this process (:class:`EmbedStage`), and this thread scheduling both (:class:`LocalPipeline`);
:func:`build_index` runs it under :func:`~indexer.pipeline.update.update_index`."""

from __future__ import annotations

import logging
import os
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from indexer.clips import DecodedSegments, OpenedVideo, decode_segments, open_video
from indexer.errors import DecodeError, NotMediaError
from indexer.pipeline import plan
from indexer.pipeline.commit import Committer
from indexer.pipeline.options import (
    BuildOptions,
    BuildReport,
    batch_size_for,
    decode_resample,
    poster_short_side,
    segment_rule,
)
from indexer.pipeline.plan import CRASHED, MAX_CRASHES, VideoJob, decoder_for, fit_to_stream_end
from indexer.pipeline.update import update_index
from indexer.pipeline.workers import DecodePool, EmbedThreads, TaskClock

log = logging.getLogger(__name__)


def build_index(encoder, options: BuildOptions) -> BuildReport:
    """Bring the index in ``options.index_dir`` up to date with ``options.library`` and publish it."""
    return update_index(encoder, options, lambda committer: LocalPipeline(encoder, options, committer).run(committer.jobs))


class EmbedStage:
    """Decoded segments waiting for the encoder, and the one thread that embeds them a batch at a time.

    A batch goes out when it is full, or partial once no decode task is in flight. When the encoder had to wait
    for segments before a batch, the decoders are the slower stage: that batch leaves them their cores
    (:class:`~indexer.pipeline.workers.EmbedThreads`).
    """

    def __init__(self, encoder, batch_size: int, workers: int):
        self.encoder = encoder
        self.batch_size = batch_size
        self.waiting: deque[tuple[VideoJob, int, int, np.ndarray]] = deque()  # (job, epoch, segment index, clip)
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="vidseek-embed")
        self.threads = EmbedThreads(workers)
        self.running: tuple[Future, list[tuple[VideoJob, int, int]]] | None = None
        self.batches = 0
        self.encoder_waited = False  # for decoded segments, since the last batch: the decoders are the slower stage

    def add(self, job: VideoJob, index: int, clip: np.ndarray) -> None:
        self.waiting.append((job, job.epoch, index, clip))

    @property
    def busy(self) -> bool:
        return bool(self.waiting) or self.running is not None

    def start(self, more_coming: bool) -> None:
        """Hand the embedding thread a full batch when it is free (a partial one once nothing else is coming)."""
        if self.running is not None:
            return
        if len(self.waiting) < self.batch_size and more_coming:
            self.encoder_waited = self.batches > 0  # filling the pipeline at first says nothing about the stages
            return
        batch = []
        while self.waiting and len(batch) < self.batch_size:
            item = self.waiting.popleft()
            if item[0].current(item[1]):
                batch.append(item)
        if not batch:
            return
        share_cores = self.encoder_waited
        self.encoder_waited = False
        self.batches += 1
        future = self.thread.submit(self.threads.embed, self.encoder, [clip for *_, clip in batch], share_cores)
        self.running = (future, [(job, epoch, index) for job, epoch, index, _ in batch])

    def take_vectors(self, committer: Committer) -> None:
        """The finished batch's vectors go to their jobs, unless re-planned or failed while it was being embedded."""
        future, batch = self.running
        self.running = None
        for (job, epoch, index), vector in zip(batch, future.result()):
            if job.current(epoch):
                job.vectors[index] = vector
                committer.embedded(job)

    def close(self) -> None:
        self.thread.shutdown(wait=False, cancel_futures=True)  # on an error, a batch under way ends on its own
        self.threads.restore()


class LocalPipeline:
    """Schedules decode tasks and batches; the scheduling thread only ever waits for the next task or batch to
    finish, so a finished decode task is replaced at once, even while a batch is being embedded, and the workers
    are never left idle behind the encoder. Decoded segments wait for the encoder up to ``max_waiting``; past that
    no new decode task goes out, so memory stays bounded (~2 MB a segment at 224 px) whichever stage is slower.
    """

    def __init__(self, encoder, options: BuildOptions, committer: Committer):
        self.options = options
        self.committer = committer
        self.short_side = poster_short_side(encoder)
        self.resample = decode_resample(encoder)
        self.rule = segment_rule(options)
        self.workers = options.workers or max(1, os.cpu_count() or 1)
        self.max_in_flight = self.workers * 2
        batch_size = batch_size_for(encoder, options)
        log.info("embedding %d segment(s) per batch on %s", batch_size, encoder.device)
        self.max_waiting = 2 * batch_size
        self.pool = DecodePool(self.workers, options.decoder)
        self.clock = TaskClock(options.file_timeout)
        self.embed = EmbedStage(encoder, batch_size, self.workers)
        self.in_flight: dict[Future, tuple] = {}  # ("open", job) or ("chunk", job, epoch, indexes)
        self.files: deque[VideoJob] = deque()
        self.chunks: deque[tuple[VideoJob, int, list[int]]] = deque()

    def run(self, jobs: list[VideoJob]) -> None:
        self.files.extend(jobs)
        try:
            while self.files or self.chunks or self.in_flight or self.embed.busy:
                self._submit()
                self.embed.start(more_coming=bool(self.in_flight))
                self._wait()
                self.committer.commit_ready()
            self.committer.commit_ready()
        finally:
            self.pool.shutdown()
            self.embed.close()

    def _submit(self) -> None:
        while len(self.in_flight) < self.max_in_flight and (self.chunks or self.files):
            if len(self.embed.waiting) >= self.max_waiting:
                return
            if self.chunks and not self.chunks[0][0].current(self.chunks[0][1]):
                self.chunks.popleft()  # re-planned or failed since it was queued
                continue
            job = self.chunks[0][0] if self.chunks else self.files[0]
            if self.in_flight and (job.crashes or any(item[1].crashes for item in self.in_flight.values())):
                return  # a file in flight when a worker died is retried alone: a second death is then its own
            self._submit_next()

    def _submit_next(self) -> None:
        """Send out the next chunk to decode, else the next file to open (its probe and first chunk in one task)."""
        options = self.options
        if self.chunks:
            job, epoch, indexes = self.chunks.popleft()
            segments = [job.segments[i] for i in indexes]
            decoder, path = decoder_for(job.file, options.decoder), str(job.file.path)
            args = (decoder, path, segments, options.frames, self.short_side, True, self.resample)
            future = self.pool.submit(decode_segments, *args)
            self.in_flight[future] = ("chunk", job, epoch, indexes)
        else:
            job = self.files.popleft()
            future = self.pool.submit(
                open_video,
                decoder_for(job.file, options.decoder),
                str(job.file.path),
                self.rule,
                options.chunk_segments,
                options.frames,
                self.short_side,
                self.resample,
                job.file.named_as_media,
            )
            self.in_flight[future] = ("open", job)
        self.clock.submitted(future)

    def _wait(self) -> None:
        """Wait until a decode task or the batch being embedded finishes; after a second with neither, look for
        a decode task that hangs."""
        embedding = [self.embed.running[0]] if self.embed.running else []
        pending = list(self.in_flight) + embedding
        if not pending:
            return
        done, _ = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
        if not done:
            self._check_timeouts()
            return
        if embedding and embedding[0] in done:
            self.embed.take_vectors(self.committer)
        self._collect([future for future in done if future in self.in_flight])

    def _collect(self, done: list[Future]) -> None:
        for future in done:
            if future not in self.in_flight:  # requeued by a pool restart below
                continue
            kind, job, *rest = self.in_flight.pop(future)
            self.clock.forget(future)
            stale = kind == "chunk" and not job.current(rest[0])
            try:
                result = future.result()
            except BrokenProcessPool:
                self._restart_pool(crashed=[(kind, job, *rest)])
                continue
            except NotMediaError as exc:  # text, or media without a video stream: not a video, skipped silently
                if not stale:
                    plan.skip(job, str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - a bad file never stops the run
                if not stale:  # a chunk of an older plan (past the stream's real end, say) says nothing of this one
                    plan.fail(job, str(exc) if isinstance(exc, DecodeError) else f"{type(exc).__name__}: {exc}")
                continue
            if kind == "open":
                self._open(job, result)
            elif not stale:
                self._take_chunk(job, rest[1], result)

    def _check_timeouts(self) -> None:
        """Give up a file whose decode task has run longer than ``file_timeout`` (a pathological file)."""
        overdue = self.clock.overdue(list(self.in_flight), self.pool.started)
        if not overdue:
            return
        for future in overdue:
            job = self.in_flight.pop(future)[1]
            self.clock.forget(future)
            plan.fail(job, f"decoding took longer than {self.options.file_timeout:g}s; gave up on this file")
        # A running task cannot be cancelled: stop the workers; the other work in flight is retried.
        self.pool.kill()
        self._restart_pool(crashed=[], count_crash=False)

    def _restart_pool(self, crashed: list[tuple], count_crash: bool = True) -> None:
        """A worker died (a decoder crash, the OOM killer): retry what was in flight on a new pool.

        Which file killed it is unknown, so every file in flight is retried, each on its own (:meth:`_submit`),
        so that one in flight during ``MAX_CRASHES`` crashes, recorded as failed, is the file that crashes.
        """
        self.pool.restart()
        work = crashed + list(self.in_flight.values())
        self.in_flight.clear()
        self.clock.clear()
        for job in {id(item[1]): item[1] for item in work}.values():
            job.crashes += count_crash
            if job.crashes >= MAX_CRASHES:
                plan.fail(job, CRASHED)
        for kind, job, *rest in work:
            if not job.current(job.epoch):  # failed (or skipped): nothing more to do for it
                continue
            if kind == "open":
                self.files.appendleft(job)
            elif rest[0] == job.epoch:  # decode the whole video again under a new epoch
                self._queue(job, plan.redo(job, self.options.chunk_segments))

    def _open(self, job: VideoJob, opened: OpenedVideo) -> None:
        self._queue(job, plan.plan(job, opened.info, opened.segments, self.options.chunk_segments))
        if opened.first is not None and not job.error:
            _, _, indexes = self.chunks.popleft()  # the first chunk just queued: the task decoded it already
            self._take_chunk(job, indexes, opened.first)

    def _queue(self, job: VideoJob, chunks: list[list[int]]) -> None:
        """``job`` was (re)planned into ``chunks``: they go to the front of the queue, so it is finished (and
        committed) early."""
        self.committer.planned(job)
        self.chunks.extendleft(reversed([(job, job.epoch, indexes) for indexes in chunks]))

    def _take_chunk(self, job: VideoJob, indexes: list[int], result: DecodedSegments) -> None:
        job.chunks_out -= 1
        self.committer.frames_arrived(len(indexes))
        if not fit_to_stream_end(job.segments, indexes, result.end_time, job.info.fps):
            chunks = plan.replan(job, result.end_time, self.rule, self.options.chunk_segments)
            if chunks is not None:
                self._queue(job, chunks)
            return
        plan.take_note(job, result.note)
        for position, index in enumerate(indexes):
            job.posters[index] = result.posters[position]
            self.embed.add(job, index, result.clips[position])
