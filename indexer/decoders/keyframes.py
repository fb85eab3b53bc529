"""``--fast-seek``: PyAV decoding only keyframes (``pyav-keyframes``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import av

from indexer.decoders.base import Frames, failure_reason, open_video_stream
from indexer.decoders.pyav import NearestFrames, PyAVDecoder
from indexer.errors import DecodeError


class PyAVKeyframeDecoder(PyAVDecoder):
    """``--fast-seek``: for each instant, the nearest keyframe. Only keyframes are decoded, so a segment costs a
    few frames' work whatever the GOP length, but a sampled frame can be up to half a GOP away from its
    instant (and frames near the end of a stream come from its last keyframe). Never used to verify others."""

    name = "pyav-keyframes"

    def read(self, path: Path, times: Sequence[float], short_side: int) -> Frames:
        with open_video_stream(path) as video:
            video.stream.codec_context.skip_frame = "NONKEY"
            picks = NearestFrames(times, video, short_side)
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
