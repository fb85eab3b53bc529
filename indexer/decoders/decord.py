"""decord as a backend: fast random access, unmaintained since 2021; only ever used behind a spot check."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from indexer.decoders.base import Frames, VideoInfo, frame_rate, scaled_size
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
        return VideoInfo(duration=len(reader) / fps, fps=fps, width=int(width), height=int(height), codec="unknown")

    def read(self, path: Path, times: Sequence[float], short_side: int) -> Frames:
        probe = self._reader(path)
        height, width = probe[0].shape[:2]
        out_w, out_h = scaled_size(width, height, short_side)
        reader = self._reader(path, width=out_w, height=out_h)
        fps, count = frame_rate(reader.get_avg_fps()), len(reader)
        indexes = [min(count - 1, max(0, math.ceil(t * fps - 0.5))) for t in times]  # nearest, ties to the earlier
        images = reader.get_batch(indexes).asnumpy()
        end = count / fps
        return Frames(images=images, times=[i / fps for i in indexes], end_time=end if max(times) > end else None)

    @staticmethod
    def _reader(path: Path, **size):
        try:
            import decord

            return decord.VideoReader(str(path), **size)
        except ImportError as exc:
            raise DecodeError("the decord backend is not installed (pip install decord)") from exc
        except Exception as exc:  # noqa: BLE001 - decord raises its own untyped errors
            raise DecodeError(f"decord cannot read the file: {exc}") from exc
