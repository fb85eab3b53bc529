"""Planning a video's segments, shared by the local and Ray runners so that they cannot drift apart: which backend
decodes a file (:func:`decoder_for`), the plan, fitting a decoded chunk to where the stream really ended, re-planning
over the real length, failing a video, and skipping a file that is no video (:func:`skip`).

Pure bookkeeping on a :class:`VideoJob` (no I/O, no torch): a decode worker runs it as well as the scheduler.
Every (re)plan gets a new ``epoch``; work of an older epoch (frames, vectors, errors) no longer counts.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import numpy as np

from indexer.clips import chunk_indexes
from indexer.decoders import PHOTO_DECODER, VideoInfo
from indexer.index_dir.records import PHOTO_KIND
from indexer.scan import LibraryFile
from indexer.segment import Segment
from indexer.segmenters import SegmentRule, resegment

log = logging.getLogger(__name__)

MAX_REPLANS = 2  # a stream whose length keeps changing is given up after this many re-plans
MAX_CRASHES = 2  # a file in flight during this many decoder crashes is the file that crashes
CRASHED = "the decoder process crashed on this file"


def too_short(duration: float) -> str:
    return f"video is too short to index (duration {duration:.3f}s)"


def unstable_length(real_end: float) -> str:
    return f"stream length keeps changing while decoding (ends at {real_end:.2f}s)"


def decoder_for(file: LibraryFile, decoder: str) -> str:
    """The backend that decodes ``file``: a photo's is the photo backend (Pillow), never the build's ``decoder``
    (a video backend, which a spot check against PyAV could not check on a picture); a video's is ``decoder``."""
    return PHOTO_DECODER if file.kind == PHOTO_KIND else decoder


@dataclass
class VideoJob:
    """One video on its way through the pipeline; done once it failed, was skipped (no video: :func:`skip`), or every
    segment has its vector."""

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
    skipped: str | None = None  # why it is no video (a NotMediaError): neither catalogued nor reported as failed
    note: str | None = None
    # Its share of the progress bar: the segments of its current plan, and how many of them have their vector.
    progress_planned: int = 0
    progress_embedded: int = 0

    @property
    def done(self) -> bool:
        return (
            self.error is not None
            or self.skipped is not None
            or (self.info is not None and self.chunks_out == 0 and len(self.vectors) == len(self.segments))
        )

    def current(self, epoch: int) -> bool:
        """Whether work done for ``epoch`` still counts: the job was neither re-planned, failed nor skipped since."""
        return epoch == self.epoch and self.error is None and self.skipped is None


def plan(job: VideoJob, info: VideoInfo, segments: list[Segment], chunk_segments: int) -> list[list[int]]:
    """Plan ``job`` as ``segments`` of ``info`` (the open task decided them: :func:`~indexer.segmenters.segment_video`;
    a photo is one segment; the vectors of an older plan are dropped) and return its decode chunks (segment indexes),
    ``job.chunks_out`` of them. A video too short for one segment fails: no chunks."""
    job.info = info
    job.segments = list(segments)
    job.vectors.clear()
    job.posters.clear()
    job.chunks_out = 0
    if not job.segments:
        fail(job, too_short(info.duration))
        return []
    chunks = chunk_indexes(len(job.segments), chunk_segments)
    job.chunks_out = len(chunks)
    return chunks


def replan(job: VideoJob, real_end: float, rule: SegmentRule, chunk_segments: int) -> list[list[int]] | None:
    """The stream ended at ``real_end``, before the plan: plan again over the real length under a new epoch
    (:func:`plan`'s chunks; :func:`~indexer.segmenters.resegment`: fixed windows again, shots cut at the end), or
    fail the video once it was re-planned ``MAX_REPLANS`` times (None: no new plan)."""
    job.replans += 1
    if job.replans > MAX_REPLANS:
        fail(job, unstable_length(real_end))
        return None
    info = job.info
    log.info("%s: header says %.2fs but the stream ends at %.2fs; re-planning", job.file.path.name, info.duration, real_end)
    job.epoch += 1
    segments = resegment(rule, job.segments, real_end)
    return plan(job, dataclasses.replace(info, duration=real_end), segments, chunk_segments)


def redo(job: VideoJob, chunk_segments: int) -> list[list[int]]:
    """Decode the whole video again under a new epoch, as the same segments (its decoder process died)."""
    job.epoch += 1
    return plan(job, job.info, job.segments, chunk_segments)


def fail(job: VideoJob, reason: str) -> None:
    """Give ``job`` up: the first reason stays (it is the cause; later ones are its consequences), and the epoch
    moves on, so nothing still in flight for it counts. The failure is logged when it is committed."""
    if job.error is None:
        job.error = reason
        job.epoch += 1


def skip(job: VideoJob, reason: str) -> None:
    """``job``'s file is no video (:class:`~indexer.errors.NotMediaError`: text, or media without a video stream):
    it is done, and neither catalogued nor reported as failed; nothing still in flight for it counts. Not being
    catalogued, it is probed again by every build (cheap: it fails at its first bytes, or its header)."""
    if job.error is None and job.skipped is None:
        job.skipped = reason
        job.epoch += 1


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


def take_note(job: VideoJob, note: str | None) -> None:
    """A decoder's note on a chunk (a fallback worth reporting): the first one is kept for the report."""
    if note and job.note is None:
        job.note = note
        log.warning("%s: %s", job.file.path, note)
