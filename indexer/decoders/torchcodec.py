"""torchcodec (PyTorch's FFmpeg bindings) as a backend, choosing frames from a PyAV-demuxed frame index
(:func:`frame_index`). torch is imported only when this backend is chosen: decode workers of the others stay
torch-free."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from indexer.decoders.base import (
    SEEK_GAP_SECONDS,
    Frames,
    VideoInfo,
    VideoStream,
    containing_frame,
    failure_reason,
    frame_size,
    open_video_stream,
    past_the_end,
    redone_with,
    resized_rgb,
)
from indexer.decoders.pyav import PyAVDecoder
from indexer.decoders.resample import OPENCV_BILINEAR, SWSCALE
from indexer.errors import DecodeError, DecoderUnavailableError

FFMPEG_INSTALL = "FFmpeg's shared libraries, versions 4 to 9 (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg)"


class TorchCodecDecoder:
    """torchcodec (PyTorch's FFmpeg bindings, on the system's FFmpeg 4 to 9). It loads torch into every decode worker
    that uses it (this module imports it only here, so it stays torch-free for the other backends).

    Frames are chosen exactly as PyAV chooses them (the frame shown at each instant: pts <= t < next pts), from the
    stream's packet timestamps read with PyAV's demuxer and handed to torchcodec as its frame index (so torchcodec
    does not scan the file again). torchcodec then decodes each chosen frame by its timestamp, seeking to the
    keyframe before it whenever a keyframe lies between (PyAV here decodes through any gap under
    ``SEEK_GAP_SECONDS``), and every frame it returns is checked to carry the timestamp asked for. That seeking is
    its whole gain: 1.2-1.3x PyAV's segments/s with a keyframe every second; with long GOPs it decodes as much as
    PyAV and is slower (0.5-0.9x), as it converts each frame to RGB at full size before scaling it.

    Not behind :class:`~indexer.decoders.verified.VerifiedDecoder`: that spot check guards backends that guess frame
    positions (decord), and redecoding three instants with PyAV on every read costs more than torchcodec saves. When
    torchcodec fails on a file, the read is redone with PyAV and the result says so (``note``), as
    :class:`~indexer.decoders.verified.VerifiedDecoder` does.
    """

    name = "torchcodec"

    def __init__(self, threads: int = 0):
        self.threads = threads  # FFmpeg's decoding threads; 0 lets FFmpeg decide, as PyAV's thread_type AUTO does
        self._torchcodec = _import_torchcodec()
        self.reference = PyAVDecoder()

    def probe(self, path: Path) -> VideoInfo:
        return self.reference.probe(path)  # the same duration, hence the same segments, as every other backend

    def read(self, path: Path, times: Sequence[float], short_side: int, resample: str = SWSCALE) -> Frames:
        if not times:
            return self.reference.read(path, times, short_side, resample)
        index = frame_index(path, min(times), max(times))  # a file PyAV cannot demux fails here, with PyAV's message
        try:
            return self._read(path, index, times, short_side, resample)
        except DecodeError as exc:
            return redone_with(self.reference, path, times, short_side, f"{self.name} failed ({exc})", resample)

    def _read(self, path: Path, index: FrameIndex, times: Sequence[float], short_side: int, resample: str) -> Frames:
        chosen = [containing_frame(index.starts, float(t)) for t in times]
        mappings = {
            "frames": [
                {"pts": pts, "duration": duration, "key_frame": int(key)}
                for pts, duration, key in zip(index.pts, index.durations, index.keyframes)
            ]
        }
        try:
            decoder = self._torchcodec.decoders.VideoDecoder(
                str(path),
                stream_index=index.stream,
                dimension_order="NHWC",
                num_ffmpeg_threads=self.threads,
                custom_frame_mappings=json.dumps(mappings),
            )
            batch = decoder.get_frames_at(chosen)  # decoded in file order, returned in the order asked
            decoded = [float(s) - index.t0 for s in batch.pts_seconds.tolist()]
            size = frame_size(index.width, index.height, short_side, resample)
            full = batch.data.numpy()  # torchcodec converts every frame to RGB at full size
            images = resized_rgb(full, *size) if resample == OPENCV_BILINEAR else _resize(full, *size)
        except Exception as exc:  # noqa: BLE001 - torchcodec raises RuntimeError/ValueError for FFmpeg failures
            raise DecodeError(f"torchcodec cannot decode the file: {exc}") from exc
        frame_times = [index.starts[i] for i in chosen]
        half_tick = float(index.time_base) / 2
        for want, got in zip(frame_times, decoded):
            if abs(want - got) > half_tick:  # FFmpeg output another frame than the one indexed (packed B-frames)
                raise DecodeError(f"torchcodec returned the frame at {got:.3f}s for the frame at {want:.3f}s")
        end_time = None
        stream_end = index.starts[-1] + 1.0 / index.fps
        if index.complete and past_the_end(max(times), stream_end):  # as PyAV: asked past the last frame's end
            end_time = stream_end
        return Frames(images=images, times=frame_times, end_time=end_time)


def _resize(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """[N, H, W, 3] RGB frames scaled to ``width`` x ``height`` by libswscale (bilinear, as PyAV scales). Not
    torchcodec's own Resize transform: where a width is not a multiple of 32 (398x224 from 720p) it scales through
    a filter graph, 15-25 ms a frame here against 2.5 ms for this. (torch's uint8 antialiased interpolate takes
    0.6 ms, but this module must not import torch.)"""
    if frames.shape[1:3] == (height, width):
        return frames
    scaled = np.empty((len(frames), height, width, 3), dtype=np.uint8)
    reformatter = av.video.reformatter.VideoReformatter()  # one libswscale context for all: 40% faster at 720p
    for i, image in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        scaled[i] = reformatter.reformat(frame, width=width, height=height, format="rgb24").to_ndarray()
    return scaled


def _import_torchcodec():
    try:
        import torchcodec
    except ImportError as exc:
        raise DecoderUnavailableError(
            f"the torchcodec backend is not installed ({exc}): pip install 'vidseek[torchcodec]', and {FFMPEG_INSTALL}"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - torchcodec built for another torch fails in its import-time checks
        raise DecoderUnavailableError(
            f"torchcodec cannot be imported ({exc}): install the torchcodec release made for this torch "
            "(pip install 'vidseek[torchcodec]' pins the tested one)"
        ) from exc
    if torchcodec.ffmpeg_major_version is None:  # torchcodec imports without FFmpeg, then fails on the first video
        raise DecoderUnavailableError(f"torchcodec is installed but cannot load FFmpeg: it needs {FFMPEG_INSTALL}")
    return torchcodec


@dataclass
class FrameIndex:
    """The frames of a video stream around some instants, by their packets: torchcodec's custom frame mappings."""

    stream: int
    pts: list[int]  # sorted presentation timestamps, in ``time_base`` units
    starts: list[float]  # the same, as seconds from the stream's start
    durations: list[int]
    keyframes: list[bool]
    complete: bool  # the last frame is the stream's last
    time_base: Fraction
    t0: float
    fps: float
    width: int
    height: int


def frame_index(path: Path, first: float, last: float) -> FrameIndex:
    """The stream's frames from its packets (demuxed, not decoded), as PyAV's decoder would time them: from the
    keyframe before ``first`` (one seek, where PyAV's read would seek) to the frame shown next after ``last``. A long
    video is read in chunks of segments, so this costs the chunk's span, not the whole file's."""
    with open_video_stream(path) as video:
        packets = None
        if first > SEEK_GAP_SECONDS:
            video.seek(first)
            packets, complete = _demux_until(video, last)
            if not packets or not packets[0][2] or video.seconds(packets[0][0]) > first:
                packets = None  # the seek landed past the instant or off a keyframe: read from the start
                video.container.seek(0)
        if packets is None:
            packets, complete = _demux_until(video, last)
        if not packets:
            raise DecodeError("no decodable video frames")
        packets.sort()
        return FrameIndex(
            stream=video.stream.index,
            pts=[p for p, _, _ in packets],
            starts=[video.seconds(p) for p, _, _ in packets],
            durations=[d for _, d, _ in packets],
            keyframes=[k for _, _, k in packets],
            complete=complete,
            time_base=video.time_base,
            t0=video.t0,
            fps=video.fps,
            width=video.width,
            height=video.height,
        )


def _demux_until(video: VideoStream, last: float) -> tuple[list[tuple[int, int, bool]], bool]:
    """(pts, duration, keyframe) of the packets from here on, until none still to come can be shown before the first
    frame seen after ``last`` (decode time past it: presentation never precedes decoding); and whether the stream
    ended first."""
    packets = []
    next_after = math.inf  # the earliest frame after ``last`` seen so far, seconds
    try:
        for packet in video.container.demux(video.stream):
            pts = packet.pts if packet.pts is not None else packet.dts
            if pts is None or packet.size == 0 or packet.is_discard:
                continue
            if packet.dts is not None and video.seconds(packet.dts) > next_after:
                return packets, False
            packets.append((pts, packet.duration or 0, packet.is_keyframe))
            if (t := video.seconds(pts)) > last:
                next_after = min(next_after, t)
    except av.FFmpegError as exc:
        raise DecodeError(f"demuxing failed: {failure_reason(exc)}") from exc
    return packets, True
