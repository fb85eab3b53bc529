"""decord as a backend: fast random access, unmaintained since 2021; only ever used behind a spot check."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from indexer.decoders.base import TIME_TOLERANCE, Frames, VideoInfo, frame_rate, frame_size, past_the_end
from indexer.decoders.resample import OPENCV_BILINEAR, SWSCALE, opencv_bilinear
from indexer.errors import DecodeError


class DecordDecoder:
    """decord (fast random access, unmaintained since 2021). It maps instants to frame numbers by the average
    frame rate and has returned wrong frames on real files here: only ever use it through
    :class:`~indexer.decoders.verified.VerifiedDecoder`."""

    name = "decord"

    def probe(self, path: Path) -> VideoInfo:
        reader = self._reader(path)
        fps = frame_rate(reader.get_avg_fps())
        height, width = reader[0].shape[:2]
        return VideoInfo(duration=len(reader) / fps, fps=fps, width=int(width), height=int(height), codec="")

    def read(self, path: Path, times: Sequence[float], short_side: int, resample: str = SWSCALE) -> Frames:
        probe = self._reader(path)
        height, width = probe[0].shape[:2]
        out_w, out_h = frame_size(width, height, short_side, resample)
        native = resample == OPENCV_BILINEAR  # full-size frames, each resized here as it is read
        reader = probe if native else self._reader(path, width=out_w, height=out_h)
        fps, count = frame_rate(reader.get_avg_fps()), len(reader)
        # decord's clock: frame i is shown from i / fps to (i + 1) / fps; the one shown at t holds it
        indexes = [min(count - 1, max(0, math.floor((t + TIME_TOLERANCE) * fps))) for t in times]
        if native:
            images = np.empty((len(indexes), out_h, out_w, 3), dtype=np.uint8)
            for k, i in enumerate(indexes):
                images[k] = opencv_bilinear(reader[i].asnumpy(), out_w, out_h)
        else:
            images = reader.get_batch(indexes).asnumpy()
        end = count / fps
        end_time = end if times and past_the_end(max(times), end) else None
        return Frames(images=images, times=[i / fps for i in indexes], end_time=end_time)

    @staticmethod
    def _reader(path: Path, **size):
        try:
            import decord

            return decord.VideoReader(str(path), **size)
        except ImportError as exc:
            raise DecodeError("the decord backend is not installed (pip install decord)") from exc
        except Exception as exc:  # noqa: BLE001 - decord raises its own untyped errors
            raise DecodeError(f"decord cannot read the file: {exc}") from exc
