"""Committing finished videos to the index in library order (so the same library gets the same segment ids),
publishing checkpoints as it goes, and keeping the build's progress bar."""

from __future__ import annotations

import logging
import time

import numpy as np

from indexer.index_dir.writer import IndexWriter
from indexer.pipeline.options import BuildOptions, BuildReport
from indexer.pipeline.plan import VideoJob
from indexer.progress import NoProgress

log = logging.getLogger(__name__)


class Committer:
    """Writes finished videos to the index in library order, publishing a checkpoint every ``checkpoint_seconds``,
    and keeps the progress bar.

    The bar counts segments (a long film moves it as it goes): a pipeline reports a video's segments when it
    plans them (:meth:`planned`: the total grows as files are opened) and each vector (:meth:`embedded`).

    ``jobs[seq]`` becomes None once that video is committed, so its vectors and posters are freed. A file that was
    no video (``job.skipped``) is passed over silently, counted in ``not_media``.
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
        self.not_media = 0  # files skipped as no video (text, media without a video stream): not in the catalog
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
        if job.skipped is not None:  # not catalogued, so probed again by the next build: text fails at its first bytes
            log.debug("not a video, skipped: %s: %s", job.file.path, job.skipped)
            self.not_media += 1
            return
        if job.error:
            log.warning("skipping %s: %s", job.file.path, job.error)
            self.writer.record_failure(path, job.file.fingerprint, job.file.size, job.error)
            self.report.failed.append((path, job.error))
            return
        vectors = np.stack([job.vectors[i] for i in range(len(job.segments))])
        posters = [job.posters[i] for i in range(len(job.segments))]
        file = job.file
        self.writer.add_video(
            path,
            file.fingerprint,
            file.size,
            job.info,
            job.segments,
            vectors,
            posters,
            device=file.device,
            inode=file.inode,
            kind=file.kind,
        )
        self.report.indexed += 1
        self.report.segments += len(job.segments)
        if job.note:
            self.report.notes.append((path, job.note))
