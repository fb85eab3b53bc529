"""A fast backend spot-checked against PyAV, the reference, on every read (:class:`VerifiedDecoder`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from indexer.decoders.base import Decoder, Frames, VideoInfo, read_frames, redone_with
from indexer.decoders.pyav import PyAVDecoder
from indexer.decoders.resample import SWSCALE
from indexer.errors import DecodeError

# Mean absolute difference (0..255) above which two decodes of the same instant are different frames.
FRAME_MISMATCH_THRESHOLD = 6.0


class VerifiedDecoder:
    """A fast backend whose frames are spot-checked against PyAV (the reference) on every read.

    The first, middle and last instant of each read are decoded by both; when any differs, the whole read
    is redone with PyAV and the result says so (``note``). A spot check cannot prove every frame right,
    but it catches the failures seen here (wrong frames after seeks, frame rates that are not constant).
    """

    def __init__(self, fast: Decoder, reference: Decoder | None = None):
        self.fast = fast
        self.reference = reference or PyAVDecoder()
        self.name = fast.name

    def probe(self, path: Path) -> VideoInfo:
        return self.reference.probe(path)  # headers through FFmpeg: the reference's duration is the one trusted

    def read(self, path: Path, times: Sequence[float], short_side: int, resample: str = SWSCALE) -> Frames:
        try:
            fast = read_frames(self.fast, path, times, short_side, resample)  # a plugin's older read() too
        except DecodeError as exc:
            return redone_with(self.reference, path, times, short_side, f"{self.fast.name} failed ({exc})", resample)
        picks = sorted({0, len(times) // 2, len(times) - 1})
        check = self.reference.read(path, [times[i] for i in picks], short_side, resample)
        differences = [
            float(np.abs(fast.images[i].astype(np.int16) - check.images[j].astype(np.int16)).mean())
            if fast.images[i].shape == check.images[j].shape
            else float("inf")
            for j, i in enumerate(picks)
        ]
        if max(differences) > FRAME_MISMATCH_THRESHOLD or (check.end_time is not None) != (fast.end_time is not None):
            why = f"{self.fast.name} returned wrong frames (mean abs difference {max(differences):.1f} vs {self.reference.name})"
            return redone_with(self.reference, path, times, short_side, why, resample)
        return fast
