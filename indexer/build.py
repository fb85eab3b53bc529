"""The indexing pipeline: scan -> decode (worker processes) -> embed (batched, a thread of the main process) -> publish.

Decoding and embedding overlap: worker processes keep decoding the next chunks of segments while a thread of
the main process embeds a batch, and results are committed to the catalog in library order, so the same
library always gets the same segment ids.

:func:`update_index` is the part every way of running the pipeline shares (scan, incremental bookkeeping,
commit in library order, checkpoints, publish); :func:`build_index` runs it with the local process pool,
:mod:`indexer.ray_build` on a Ray cluster.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from sqlalchemy.exc import SQLAlchemyError

from indexer.decode import DecodeError, VideoInfo, get_decoder
from indexer.progress import LINE_INTERVAL_S, NoProgress, progress_bar
from indexer.scan import LibraryFile, scan_library
from indexer.segment import Segment, plan_segments
from indexer.store import IndexWriteError, IndexWriter, Manifest
from indexer.tasks import DecodedSegments, OpenedVideo, chunk_indexes, decode_segments, open_video, start_worker

log = logging.getLogger(__name__)

POSTER_SHORT_SIDE = 224
MAX_REPLANS = 2
MAX_CRASHES = 2
CRASHED = "the decoder process crashed on this file"


@dataclass
class BuildOptions:
    library: Path
    index_dir: Path
    frames: int = 8
    segment_seconds: float = 10.0
    batch_size: int | None = None  # segments per encoder batch; None: sized by the encoder (GPU memory; 16 on a CPU)
    workers: int | None = None
    rebuild: bool = False
    db_url: str | None = None
    decoder: str = "pyav"
    chunk_segments: int = 8
    file_timeout: float = 600.0  # seconds one decode task may take before its file is given up
    index_type: str = "auto"  # flat, hnsw, ivfpq, or auto (by size: indexer/ann.py)
    checkpoint_seconds: float = 300.0  # publish progress this often, so a killed build resumes from there
    progress: bool = True  # a bar of segments on a terminal, else a line every progress_seconds (indexer/progress.py)
    progress_seconds: float = LINE_INTERVAL_S


@dataclass
class BuildReport:
    files: int = 0
    indexed: int = 0
    unchanged: int = 0
    removed: int = 0
    segments: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    total_segments: int = 0
    # Fixed costs around the pipeline, so that its own rate can be told apart from them (0: not measured).
    startup_seconds: float = 0.0  # until the first decoded frames came back: scan, catalog, decode workers' start-up
    startup_segments: int = 0  # the segments of that first result
    publish_seconds: float = 0.0  # after the last video: writing and publishing the index

    @property
    def segments_per_second(self) -> float:
        return self.segments / self.seconds if self.seconds > 0 else 0.0

    @property
    def steady_segments_per_second(self) -> float:
        """Segments/s between start-up and publishing: the pipeline's own rate, the one to compare with its stages'
        (the first result's segments are left out with the start-up that ends when they arrive)."""
        seconds = self.seconds - self.startup_seconds - self.publish_seconds
        return (self.segments - self.startup_segments) / seconds if seconds > 0 else 0.0

    @property
    def all_failed(self) -> bool:
        attempted = self.indexed + len(self.failed)
        return attempted > 0 and self.indexed == 0

    def summary(self) -> str:
        lines = [
            f"indexed {self.indexed} file(s), {self.segments} segment(s) in {self.seconds:.1f}s "
            f"({self.segments_per_second:.2f} segments/s); skipped {self.unchanged} unchanged; "
            f"removed {self.removed} deleted; failed {len(self.failed)}; index holds {self.total_segments} segment(s)"
        ]
        lines += [f"  failed: {path}: {reason}" for path, reason in self.failed]
        lines += [f"  note: {path}: {note}" for path, note in self.notes]
        return "\n".join(lines)


def manifest_for(encoder, options: BuildOptions) -> Manifest:
    spec = encoder.spec
    return Manifest(
        model=spec.name,
        pretrained=spec.pretrained,
        weights_fingerprint=spec.fingerprint,
        dim=encoder.dim,
        frames=options.frames,
        segment_seconds=float(options.segment_seconds),
        preprocess=encoder.preprocess.to_dict(),
        library=str(Path(options.library).expanduser().resolve()),
        decoder=options.decoder,
    )


def poster_short_side(encoder) -> int:
    """Frames are decoded at this short side: enough for the model's resize and for the posters."""
    return max(encoder.preprocess.resize, POSTER_SHORT_SIDE)


def batch_size_for(encoder, options: BuildOptions) -> int:
    """Segments per encoder batch: ``options.batch_size``, else the encoder's choice for frames decoded at
    :func:`poster_short_side` (sized to a GPU's memory; 16 on a CPU)."""
    return options.batch_size or encoder.batch_size_for_memory(options.frames, poster_short_side(encoder))


def fit_to_stream_end(segments: list[Segment], indexes: list[int], end: float | None, fps: float) -> bool:
    """Check a decoded chunk of ``segments`` against ``end``, where its stream really ended (None: past the chunk).

    False when the plan overshoots the real end by more than a frame or two: the video must be re-planned
    over its real length. Otherwise True, and the chunk's last segment is cut (in ``segments``) so that it
    never ends past the stream.
    """
    if end is None:
        return True
    tolerance = max(0.5, 2.0 / max(fps, 1.0))
    if max(segments[i].end for i in indexes) - end > tolerance:
        return False
    last = indexes[-1]
    if segments[last].end > end:
        segments[last] = Segment(segments[last].start, round(end, 6))
    return True


def too_short(duration: float) -> str:
    return f"video is too short to index (duration {duration:.3f}s)"


def unstable_length(real_end: float) -> str:
    return f"stream length keeps changing while decoding (ends at {real_end:.2f}s)"


@dataclass
class VideoJob:
    """One video on its way through the pipeline; done once it failed or every segment has its vector."""

    seq: int
    file: LibraryFile
    info: VideoInfo | None = None
    segments: list[Segment] = field(default_factory=list)
    epoch: int = 0
    replans: int = 0
    crashes: int = 0
    chunks_out: int = 0
    vectors: dict[int, np.ndarray] = field(default_factory=dict)
    posters: dict[int, bytes] = field(default_factory=dict)
    error: str | None = None
    note: str | None = None
    # Its share of the progress bar: the segments of its current plan, and how many of them have their vector.
    progress_planned: int = 0
    progress_embedded: int = 0

    @property
    def done(self) -> bool:
        return self.error is not None or (
            self.info is not None and self.chunks_out == 0 and len(self.vectors) == len(self.segments)
        )


class Committer:
    """Writes finished videos to the index in library order (so the same library gets the same segment ids),
    publishing a checkpoint every ``checkpoint_seconds``, and keeps the progress bar.

    The bar counts segments (a long film moves it as it goes): a pipeline reports a video's segments when it
    plans them (:meth:`planned`: the total grows as files are opened) and each vector (:meth:`embedded`).

    ``jobs[seq]`` becomes None once that video is committed, so its vectors and posters are freed.
    """

    def __init__(
        self,
        jobs: list[VideoJob],
        writer: IndexWriter,
        report: BuildReport,
        options: BuildOptions,
        progress,
        build_started: float | None = None,
    ):
        self.jobs: list[VideoJob | None] = jobs
        self.writer = writer
        self.report = report
        self.options = options
        self.progress = NoProgress() if progress is None else progress
        self.next_commit = 0
        self.started = time.perf_counter()
        self.build_started = self.started if build_started is None else build_started  # perf_counter
        self.last_checkpoint = time.monotonic()
        self._show_files()

    def frames_arrived(self, segments: int) -> None:
        """Called by a pipeline with each result of decoded segments: the first one ends the build's start-up."""
        if self.report.startup_seconds == 0.0:
            self.report.startup_seconds = time.perf_counter() - self.build_started
            self.report.startup_segments = segments

    def planned(self, job: VideoJob) -> None:
        """``job.segments`` were (re)planned: they join the bar's total, and the vectors of an older plan leave it."""
        self.progress.total += len(job.segments) - job.progress_planned
        job.progress_planned = len(job.segments)
        if job.progress_embedded:
            self.progress.update(-job.progress_embedded)
            job.progress_embedded = 0

    def embedded(self, job: VideoJob, segments: int = 1) -> None:
        """``segments`` of ``job``'s current plan got their vectors."""
        job.progress_embedded += segments
        self.progress.update(segments)

    @property
    def finished(self) -> bool:
        return self.next_commit == len(self.jobs)

    def commit_ready(self) -> None:
        while self.next_commit < len(self.jobs) and self.jobs[self.next_commit].done:
            self._commit(self.jobs[self.next_commit])
            self.jobs[self.next_commit] = None  # free the frames and vectors
            self.next_commit += 1
            if self.next_commit < len(self.jobs) and time.monotonic() - self.last_checkpoint >= self.options.checkpoint_seconds:
                self.writer.checkpoint()
                self.last_checkpoint = time.monotonic()
            self._show_files()

    def _show_files(self) -> None:
        self.progress.set_postfix(files=f"{self.next_commit}/{len(self.jobs)}", failed=len(self.report.failed))

    def _commit(self, job: VideoJob) -> None:
        path = str(job.file.path)
        self.progress.total -= job.progress_planned - job.progress_embedded  # a failed video's segments never come
        if job.error:
            self.writer.record_failure(path, job.file.fingerprint, job.file.size, job.error)
            self.report.failed.append((path, job.error))
            return
        vectors = np.stack([job.vectors[i] for i in range(len(job.segments))])
        posters = [job.posters[i] for i in range(len(job.segments))]
        file = job.file
        self.writer.add_video(
            path, file.fingerprint, file.size, job.info, job.segments, vectors, posters, device=file.device, inode=file.inode
        )
        self.report.indexed += 1
        self.report.segments += len(job.segments)
        if job.note:
            self.report.notes.append((path, job.note))


class _Pipeline:
    """The local pipeline: decode tasks in a process pool, embedding in one thread, and this thread scheduling both.

    The scheduling thread only ever waits for the next task or batch to finish, so a finished decode task is
    replaced at once, even while a batch is being embedded, and the workers are never left idle behind the encoder.
    Decoded segments wait for the encoder up to ``max_waiting``; past that no new decode task goes out, so memory
    stays bounded (~2 MB a segment at 224 px) whichever stage is slower.
    """

    def __init__(self, encoder, options: BuildOptions, committer: Committer):
        self.encoder = encoder
        self.options = options
        self.committer = committer
        self.short_side = poster_short_side(encoder)
        self.workers = options.workers or max(1, os.cpu_count() or 1)
        self.max_in_flight = self.workers * 2
        self.batch_size = batch_size_for(encoder, options)
        log.info("embedding %d segment(s) per batch on %s", self.batch_size, encoder.device)
        self.max_waiting = 2 * self.batch_size
        self.executor = self._new_pool()
        self.embedder = ThreadPoolExecutor(1, thread_name_prefix="vidseek-embed")
        self.embedding: tuple[Future, list[tuple[VideoJob, int, int]]] | None = None
        self.threads = EmbedThreads(self.workers)
        self.batches = 0
        self.encoder_waited = False  # for decoded segments, since the last batch: the decoders are the slower stage
        self.in_flight: dict[Future, tuple] = {}
        self.started_at: dict[Future, float | None] = {}  # when each task was first seen running
        self.files: deque[VideoJob] = deque()
        self.chunks: deque[tuple[VideoJob, int, list[int]]] = deque()
        self.to_embed: deque[tuple[VideoJob, int, int, np.ndarray]] = deque()

    def _new_pool(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")
        self.workers_up = context.Value("i", 0)  # raised by each worker of this pool once it has started
        return ProcessPoolExecutor(
            self.workers,
            mp_context=context,
            initializer=start_worker,
            initargs=(os.getpid(), self.workers_up, self.options.decoder),
        )

    def run(self, jobs: list[VideoJob]) -> None:
        self.files.extend(jobs)
        try:
            while self.files or self.chunks or self.in_flight or self.to_embed or self.embedding:
                self._submit()
                self._start_embedding()
                self._wait()
                self.committer.commit_ready()
            self.committer.commit_ready()
        finally:
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.embedder.shutdown(wait=False, cancel_futures=True)  # on an error, a batch under way ends on its own
            self.threads.restore()

    def _submit(self) -> None:
        while len(self.in_flight) < self.max_in_flight and (self.chunks or self.files):
            if len(self.to_embed) >= self.max_waiting:
                return
            if self.chunks and (self.chunks[0][1] != self.chunks[0][0].epoch or self.chunks[0][0].error):
                self.chunks.popleft()  # re-planned or failed since it was queued
                continue
            job = self.chunks[0][0] if self.chunks else self.files[0]
            if self.in_flight and (job.crashes or any(item[1].crashes for item in self.in_flight.values())):
                return  # a file in flight when a worker died is retried alone: a second death is then its own
            if self.chunks:
                job, epoch, indexes = self.chunks.popleft()
                segments = [job.segments[i] for i in indexes]
                future = self.executor.submit(
                    decode_segments, self.options.decoder, str(job.file.path), segments, self.options.frames, self.short_side
                )
                self.in_flight[future] = ("chunk", job, epoch, indexes)
            else:
                job = self.files.popleft()
                options = self.options
                future = self.executor.submit(
                    open_video,
                    options.decoder,
                    str(job.file.path),
                    options.segment_seconds,
                    options.chunk_segments,
                    options.frames,
                    self.short_side,
                )
                self.in_flight[future] = ("open", job)
            self.started_at[future] = None

    def _start_embedding(self) -> None:
        """Hand the embedding thread a full batch when it is free (a partial one once nothing else is coming)."""
        if self.embedding is not None:
            return
        if len(self.to_embed) < self.batch_size and self.in_flight:
            self.encoder_waited = self.batches > 0  # filling the pipeline at first says nothing about the stages
            return
        batch = []
        while self.to_embed and len(batch) < self.batch_size:
            item = self.to_embed.popleft()
            job, epoch = item[0], item[1]
            if epoch == job.epoch and not job.error:
                batch.append(item)
        if not batch:
            return
        share_cores = self.encoder_waited
        self.encoder_waited = False
        self.batches += 1
        future = self.embedder.submit(self.threads.embed, self.encoder, [clip for *_, clip in batch], share_cores)
        self.embedding = (future, [(job, epoch, index) for job, epoch, index, _ in batch])

    def _wait(self) -> None:
        """Wait until a decode task or the batch being embedded finishes; after a second with neither, look for
        a decode task that hangs."""
        pending = list(self.in_flight) + ([self.embedding[0]] if self.embedding else [])
        if not pending:
            return
        done, _ = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
        if not done:
            self._check_timeouts()
            return
        if self.embedding is not None and self.embedding[0] in done:
            self._take_vectors()
        self._collect([future for future in done if future in self.in_flight])

    def _take_vectors(self) -> None:
        future, batch = self.embedding
        self.embedding = None
        vectors = future.result()
        for (job, epoch, index), vector in zip(batch, vectors):
            if epoch == job.epoch and not job.error:  # not re-planned or failed while it was being embedded
                job.vectors[index] = vector
                self.committer.embedded(job)

    def _collect(self, done: list[Future]) -> None:
        for future in done:
            if future not in self.in_flight:  # requeued by a pool restart below
                continue
            kind, job, *rest = self.in_flight.pop(future)
            self.started_at.pop(future, None)
            try:
                result = future.result()
            except BrokenProcessPool:
                self._restart_pool(crashed=[(kind, job, *rest)])
                continue
            except Exception as exc:  # noqa: BLE001 - a bad file never stops the run
                if kind == "chunk" and rest[0] != job.epoch:
                    continue  # a chunk of an older plan (past the stream's real end, say): says nothing of this one
                self._fail(job, str(exc) if isinstance(exc, DecodeError) else f"{type(exc).__name__}: {exc}")
                continue
            if kind == "open":
                self._open(job, result)
            else:
                epoch, indexes = rest
                if epoch == job.epoch and not job.error:
                    self._take_chunk(job, indexes, result)

    def _check_timeouts(self) -> None:
        """Give up a file whose decode task has run longer than ``file_timeout`` (a pathological file).

        A task's clock starts when it is first seen running, and not before a worker is up: a task handed to a
        worker that is still starting (seconds, on a busy machine) looks running already."""
        up = self.workers_up.value
        if not up:
            return
        now = time.monotonic()
        overdue = []
        for future in self.in_flight:
            if self.started_at.get(future) is None and future.running():
                self.started_at[future] = now
            started = self.started_at.get(future)
            if started is not None and now - started > self.options.file_timeout:
                overdue.append(future)
        if not overdue:
            return
        # Futures queued behind a hung worker look "running" too; only the oldest ones can really be running.
        order = {future: position for position, future in enumerate(self.in_flight)}
        overdue = sorted(overdue, key=lambda f: (self.started_at[f], order[f]))[:up]
        for future in overdue:
            job = self.in_flight.pop(future)[1]
            self.started_at.pop(future, None)
            self._fail(job, f"decoding took longer than {self.options.file_timeout:g}s; gave up on this file")
        # A running task cannot be cancelled: stop the workers; the other work in flight is retried.
        for process in list(getattr(self.executor, "_processes", {}).values()):
            process.kill()
        self._restart_pool(crashed=[], count_crash=False)

    def _restart_pool(self, crashed: list[tuple], count_crash: bool = True) -> None:
        """A worker died (a decoder crash, the OOM killer): retry what was in flight on a new pool.

        Which file killed it is unknown, so every file in flight is retried, each on its own (:meth:`_submit`),
        so that one in flight during ``MAX_CRASHES`` crashes, recorded as failed, is the file that crashes.
        """
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.executor = self._new_pool()
        work = crashed + list(self.in_flight.values())
        self.in_flight.clear()
        self.started_at.clear()
        for job in {id(item[1]): item[1] for item in work}.values():
            job.crashes += count_crash
            if job.crashes >= MAX_CRASHES:
                self._fail(job, CRASHED)
        for kind, job, *rest in work:
            if job.error is not None:
                continue
            if kind == "open":
                self.files.appendleft(job)
            elif rest[0] == job.epoch:  # decode the whole video again under a new epoch
                job.epoch += 1
                self._plan(job, job.info)

    def _open(self, job: VideoJob, opened: OpenedVideo) -> None:
        self._plan(job, opened.info)
        if opened.first is not None and not job.error:
            _, _, indexes = self.chunks.popleft()  # the first chunk _plan just queued: the task decoded it already
            self._take_chunk(job, indexes, opened.first)

    def _plan(self, job: VideoJob, info: VideoInfo) -> None:
        job.info = info
        job.segments = plan_segments(info.duration, self.options.segment_seconds)
        job.vectors.clear()
        job.posters.clear()
        job.chunks_out = 0
        self.committer.planned(job)
        if not job.segments:
            self._fail(job, too_short(info.duration))
            return
        chunks = [(job, job.epoch, indexes) for indexes in chunk_indexes(len(job.segments), self.options.chunk_segments)]
        job.chunks_out = len(chunks)
        # A planned video goes to the front of the queue, so it is finished (and committed) early.
        self.chunks.extendleft(reversed(chunks))

    def _take_chunk(self, job: VideoJob, indexes: list[int], result: DecodedSegments) -> None:
        job.chunks_out -= 1
        self.committer.frames_arrived(len(indexes))
        if not fit_to_stream_end(job.segments, indexes, result.end_time, job.info.fps):
            self._replan(job, result.end_time)
            return
        if result.note and job.note is None:
            job.note = result.note
            log.warning("%s: %s", job.file.path, result.note)
        for position, index in enumerate(indexes):
            job.posters[index] = result.posters[position]
            self.to_embed.append((job, job.epoch, index, result.clips[position]))

    def _replan(self, job: VideoJob, real_end: float) -> None:
        job.replans += 1
        if job.replans > MAX_REPLANS:
            self._fail(job, unstable_length(real_end))
            return
        log.info(
            "%s: header says %.2fs but the stream ends at %.2fs; re-planning", job.file.path.name, job.info.duration, real_end
        )
        job.epoch += 1
        info = job.info
        self._plan(job, VideoInfo(real_end, info.fps, info.width, info.height, info.codec))

    def _fail(self, job: VideoJob, reason: str) -> None:
        if job.error is None:
            job.error = reason
            job.epoch += 1
            log.warning("skipping %s: %s", job.file.path, reason)


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
        self.all = torch.get_num_threads()
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        self.spare = max(1, min(self.all, cores - workers))
        self.current: int | None = None

    def embed(self, encoder, clips: list[np.ndarray], share_cores: bool) -> np.ndarray:
        threads = self.spare if share_cores else self.all
        if threads != self.current:
            torch.set_num_threads(threads)
            self.current = threads
        return encoder.encode_videos(clips)

    def restore(self) -> None:
        if self.current is not None and self.current != self.all:
            torch.set_num_threads(self.all)


IndexVideos = Callable[[Committer], None]
"""Runs decode and embed over ``committer.jobs`` (the new and changed files), calling ``committer.commit_ready()``
as jobs finish; on return every job is done (indexed or failed)."""


def build_index(encoder, options: BuildOptions) -> BuildReport:
    """Bring the index in ``options.index_dir`` up to date with ``options.library`` and publish it."""
    return update_index(encoder, options, lambda committer: _Pipeline(encoder, options, committer).run(committer.jobs))


def update_index(encoder, options: BuildOptions, index_videos: IndexVideos) -> BuildReport:
    """:func:`build_index` with the decode-and-embed stage given: ``index_videos`` runs it over the new and
    changed files; scanning, dropping deleted files, committing in library order and publishing are the same."""
    started = time.perf_counter()
    # A backend that cannot load (not installed, no FFmpeg) stops the run here, with how to install it, instead
    # of failing every file, which the next run would then skip as unchanged.
    get_decoder(options.decoder)
    report = BuildReport()
    files, unreadable = scan_library(Path(options.library))
    report.files = len(files) + len(unreadable)
    try:
        writer = IndexWriter(
            options.index_dir,
            manifest_for(encoder, options),
            db_url=options.db_url,
            rebuild=options.rebuild,
            index_type=options.index_type,
        )
    except (OSError, SQLAlchemyError) as exc:
        raise IndexWriteError(f"cannot open the index in {options.index_dir} for writing: {_reason(exc)}") from exc
    try:
        todo = _apply_scan(writer, files, unreadable, report)
        progress = progress_bar(
            unit="segment", desc="indexing", enabled=options.progress and bool(todo), interval=options.progress_seconds
        )
        try:
            if todo:
                jobs = [VideoJob(seq, f) for seq, f in enumerate(todo)]
                committer = Committer(jobs, writer, report, options, progress, build_started=started)
                index_videos(committer)
                committer.commit_ready()
                if not committer.finished:
                    raise RuntimeError(f"the pipeline left {len(todo) - committer.next_commit} video(s) unfinished")
        finally:
            progress.close()
        publishing = time.perf_counter()
        report.total_segments = int(writer.index.ntotal)
        writer.publish()
        report.publish_seconds = time.perf_counter() - publishing
    except BaseException as exc:
        writer.abort()
        if isinstance(exc, OSError | SQLAlchemyError):
            raise IndexWriteError(
                f"cannot write the index in {options.index_dir}: {_reason(exc)}; the previously published index is unchanged"
            ) from exc
        raise
    report.seconds = time.perf_counter() - started
    return report


def _apply_scan(
    writer: IndexWriter, files: list[LibraryFile], unreadable: list[tuple[Path, str]], report: BuildReport
) -> list[LibraryFile]:
    """Bring the catalog in line with a scan of the library, except for the files to (re)index, which are returned:
    deleted files leave the index, changed ones leave it to be indexed again, unreadable ones are recorded."""
    known = writer.known_videos()
    present = {str(f.path) for f in files} | {str(p) for p, _ in unreadable}
    for path, video in known.items():
        if path not in present:
            writer.remove_video(video)
            report.removed += 1
    todo = []
    for f in files:
        video = known.get(str(f.path))
        if video is not None and video.fingerprint == f.fingerprint:
            writer.record_identity(video, f.device, f.inode)  # the same content: never re-embedded for this
            report.unchanged += 1
            continue
        if video is not None:
            writer.remove_video(video)
        todo.append(f)
    for path, reason in unreadable:
        if str(path) in known:
            writer.remove_video(known[str(path)])
        writer.record_failure(str(path), "", 0, reason)
        report.failed.append((str(path), reason))
    return todo


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SQLAlchemyError):
        original = getattr(exc, "orig", None)
        text = str(original or exc).splitlines()[0]
        return f"catalog database error: {text}" + (" (another process holds it)" if "locked" in text else "")
    return str(exc)
