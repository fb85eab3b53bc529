"""``--fast-seek``: PyAV decoding only keyframes (``pyav-keyframes``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import av

from indexer.decoders.base import Frames, failure_reason, open_video_stream
from indexer.decoders.pyav import FramePicks, PyAVDecoder
from indexer.decoders.resample import SWSCALE
from indexer.errors import DecodeError


class PyAVKeyframeDecoder(PyAVDecoder):
    """``--fast-seek``: for each instant, the nearest keyframe. Only keyframes are decoded, so a segment costs a
    few frames' work whatever the GOP length, but a sampled frame can be up to half a GOP away from its
    instant (and frames near the end of a stream come from its last keyframe). Never used to verify others."""

    name = "pyav-keyframes"

    def read(self, path: Path, times: Sequence[float], short_side: int, resample: str = SWSCALE) -> Frames:
        with open_video_stream(path) as video:
            video.stream.codec_context.skip_frame = "NONKEY"
            picks = NearestKeyframes(times, video, short_side, resample)
            if picks.worth_a_seek(0.0):
                video.seek(picks.open_target)
            try:
                for frame in video.container.decode(video.stream):
                    picks.offer(frame)
                    if picks.done:
                        break
            except av.FFmpegError as exc:
                if picks.previous is None:
                    raise DecodeError(f"decoding keyframes failed: {failure_reason(exc)}") from exc
            if picks.previous is None:
                raise DecodeError("no decodable keyframe")
            if not picks.done:  # past the last keyframe
                picks.last_frame_for_the_rest()
        return picks.frames(None)


class NearestKeyframes(FramePicks):
    """Each instant gets the nearer of the keyframes either side of it (ties: the earlier): a keyframe decoder
    sees only those, and the nearest one is the least far from the instant it can give."""

    def offer(self, frame: av.VideoFrame) -> float:
        """Every open instant up to ``frame``'s time gets the nearer of it and the previous keyframe."""
        t = self._time(frame)
        while not self.done and t >= self.open_target:
            if self.previous is not None and self.open_target - self.previous[0] <= t - self.open_target:
                self.choose(*self.previous)
            else:
                self.choose(t, frame)
        self.previous = (t, frame)
        return t
