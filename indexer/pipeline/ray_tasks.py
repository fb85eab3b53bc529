"""The Ray runner's decode stage (:func:`decode_videos`, a Ray Data task on one CPU): each file probed, planned and
decoded chunk by chunk with the local runner's code (:mod:`indexer.clips`, :mod:`indexer.pipeline.plan`), its
segments sent on as rows of frames for the embedding actors (:mod:`indexer.pipeline.ray`). A file that fails
becomes one error row, one that is no video one skipped row: nothing is raised.

Torch-free, like the local runner's decode workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from indexer.clips import DecodedSegments, decode_segments, probe_video
from indexer.decoders import VideoInfo
from indexer.decoders.resample import SWSCALE
from indexer.errors import DecodeError, NotMediaError
from indexer.pipeline import plan
from indexer.pipeline.plan import VideoJob, fit_to_stream_end
from indexer.scan import LibraryFile
from indexer.segment import Segment
from indexer.segmenters import SegmentRule, segment_video


def decode_videos(
    batch: dict[str, np.ndarray],
    *,
    frames: int,
    rule: SegmentRule,
    chunk_segments: int,
    short_side: int,
    resample: str = SWSCALE,
) -> Iterator[dict[str, np.ndarray]]:
    """Ray Data decode stage: each file of ``batch`` (``seq``, ``path``, the ``decoder`` chosen for it by
    :func:`~indexer.pipeline.plan.decoder_for`, and ``named_as_media``) probed, planned and decoded, one output batch
    per chunk of segments. A file that cannot be decoded becomes one error row, one that is no video one skipped row."""
    for seq, path, decoder, named in zip(batch["seq"], batch["path"], batch["decoder"], batch["named_as_media"]):
        seq, path = int(seq), str(path)
        args = (str(decoder), bool(named), frames, rule, chunk_segments, short_side, resample)
        try:
            yield from _decode_video(seq, path, *args)
        except NotMediaError as exc:  # text, or media without a video stream
            yield _rows([_error_row(seq, skipped=str(exc))])
        except DecodeError as exc:
            yield _rows([_error_row(seq, str(exc))])
        except Exception as exc:  # noqa: BLE001 - a bad file never stops the run
            yield _rows([_error_row(seq, f"{type(exc).__name__}: {exc}")])


def _decode_video(
    seq: int,
    path: str,
    decoder: str,
    named_as_media: bool,
    frames: int,
    rule: SegmentRule,
    chunk_segments: int,
    short_side: int,
    resample: str = SWSCALE,
) -> Iterator[dict[str, np.ndarray]]:
    """The local runner's plan for one file, its chunks decoded in order: when the stream ends before its header
    says, the video is planned again over its real length under a new epoch (:func:`~indexer.pipeline.plan.replan`)."""
    job = VideoJob(seq, LibraryFile(Path(path), 0, 0, ""))  # the plan's state only: the driver holds the file's
    info, segments = segment_video(path, probe_video(decoder, path, named_as_media), rule)
    chunks = plan.plan(job, info, segments, chunk_segments)
    while chunks:
        indexes = chunks.pop(0)
        decoded = decode_segments(decoder, path, [job.segments[i] for i in indexes], frames, short_side, resample=resample)
        if not fit_to_stream_end(job.segments, indexes, decoded.end_time, job.info.fps):
            chunks = plan.replan(job, decoded.end_time, rule, chunk_segments)
            continue
        yield _rows(_chunk_rows(seq, job.epoch, job.info, job.segments, indexes, decoded))
    if job.error is not None:
        yield _rows([_error_row(seq, job.error)])


def _chunk_rows(
    seq: int, epoch: int, info: VideoInfo, segments: list[Segment], indexes: list[int], decoded: DecodedSegments
) -> list[dict]:
    return [
        {
            "seq": seq,
            "epoch": epoch,
            "index": index,
            "count": len(segments),
            "start": segments[index].start,
            "end": segments[index].end,
            "duration": info.duration,
            "fps": info.fps,
            "width": info.width,
            "height": info.height,
            "codec": info.codec or "",
            "still": info.still,
            "note": decoded.note or "",
            "error": "",
            "skipped": "",
            "poster": decoded.posters[position],
            # Raw bytes: clips of different videos differ in size, and Arrow stores bytes in any mix of sizes.
            "clip": np.ascontiguousarray(decoded.clips[position]).tobytes(),
            "clip_height": decoded.clips.shape[2],
            "clip_width": decoded.clips.shape[3],
        }
        for position, index in enumerate(indexes)
    ]


def _error_row(seq: int, error: str = "", skipped: str = "") -> dict:
    """The row that ends a file: why it failed (``error``), or why it is no video (``skipped``)."""
    return {
        "seq": seq,
        "epoch": 0,
        "index": -1,
        "count": 0,
        "start": 0.0,
        "end": 0.0,
        "duration": 0.0,
        "fps": 0.0,
        "width": 0,
        "height": 0,
        "codec": "",
        "still": False,
        "note": "",
        "error": error,
        "skipped": skipped,
        "poster": b"",
        "clip": b"",
        "clip_height": 0,
        "clip_width": 0,
    }


def _rows(rows: list[dict]) -> dict[str, np.ndarray]:
    """Rows as one batch of columns (bytes and text as object arrays, which Ray Data stores as Arrow binary/string)."""
    return {
        name: np.array([row[name] for row in rows], dtype=object if isinstance(value, str | bytes) else None)
        for name, value in rows[0].items()
    }
