"""Decoding: one :class:`Decoder` interface, PyAV as the default (and reference) backend.

Frames for a list of instants are read in one forward pass over the stream: the decoder seeks only
across gaps longer than ``SEEK_GAP_SECONDS`` (never once per frame), converts only the chosen frames,
and scales them inside libswscale. Header durations are not trusted: when the stream ends before the
instants asked for, the result says where it really ended.

This module must stay torch-free: it runs in decode worker processes (the torchcodec backend, which loads torch,
imports it only when chosen).
"""

from __future__ import annotations

import bisect
import importlib
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import numpy as np

from indexer.errors import MAX_ASPECT_RATIO, DecodeError, DecoderUnavailableError, FrameSizeError  # noqa: F401 (re-exported)

SEEK_GAP_SECONDS = 3.0
MAX_FRAME_PIXELS = 8192 * 8192  # larger frames are refused, not decoded (memory bound per worker)
MAX_CONSECUTIVE_PACKET_ERRORS = 50


@dataclass(frozen=True)
class VideoInfo:
    duration: float
    fps: float
    width: int
    height: int
    codec: str


@dataclass
class Frames:
    """Frames read for a list of instants (one per instant, in the order asked)."""

    images: np.ndarray  # [N, H, W, 3] uint8
    times: list[float]  # the instant of each chosen frame, seconds from stream start
    end_time: float | None  # where the stream really ended, when that was before the last instant asked
    note: str | None = None  # what the decoder had to do differently (a fallback), for the build report


class Decoder(Protocol):
    name: str

    def probe(self, path: Path) -> VideoInfo: ...

    def read(self, path: Path, times: Sequence[float], short_side: int) -> Frames: ...


def scaled_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) scaled so that the shorter side is ``short_side``: the one place where the size of a decoded
    frame (video or picture) is decided, so its bound lives here. A frame more elongated than ``MAX_ASPECT_RATIO``
    raises :class:`FrameSizeError` before anything is allocated: a 2x2048 video would make 224x229,376 frames
    (150 MB each), a 1x60000 picture one of 9 GB."""
    if min(width, height) < 1 or max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise FrameSizeError(width, height)
    scale = short_side / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def encode_jpeg(image: np.ndarray, quality: int = 80) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


class PyAVDecoder:
    """FFmpeg through PyAV: decodes everything FFmpeg does; the reference for the other backends."""

    name = "pyav"

    def probe(self, path: Path) -> VideoInfo:
        with _open(path) as container:
            stream = _video_stream(container, path)
            _first_frame_time(container, stream, path)
            t0 = _stream_origin(stream)
            duration = _header_duration(container, stream)
            if duration is None:
                duration = _demuxed_duration(container, stream, t0)
            if duration is None or duration <= 0:
                raise DecodeError("cannot determine the video's duration")
            ctx = stream.codec_context
            return VideoInfo(
                duration=duration,
                fps=float(stream.average_rate or stream.guessed_rate or 0) or 25.0,
                width=int(ctx.width),
                height=int(ctx.height),
                codec=str(ctx.name),
            )

    def read(self, path: Path, times: Sequence[float], short_side: int) -> Frames:
        order = sorted(range(len(times)), key=lambda i: times[i])
        targets = [float(times[i]) for i in order]
        chosen: list[tuple[float, np.ndarray] | None] = [None] * len(targets)
        with _open(path) as container:
            stream = _video_stream(container, path)
            stream.thread_type = "AUTO"
            t0 = _stream_origin(stream)
            tb = stream.time_base
            ctx = stream.codec_context
            out_w, out_h = scaled_size(ctx.width, ctx.height, short_side)
            fps = float(stream.average_rate or stream.guessed_rate or 25)
            convert = lambda frame: frame.to_ndarray(format="rgb24", width=out_w, height=out_h)  # noqa: E731

            next_target = 0
            previous = None  # (time, av.VideoFrame)
            last_time = None
            errors = 0

            def seek(to: float) -> None:
                container.seek(int((to + t0) / tb), stream=stream, backward=True, any_frame=False)

            seeked_for = None
            if targets and targets[0] > SEEK_GAP_SECONDS:
                seeked_for = 0
                seek(targets[0])
            packets = container.demux(stream)
            while next_target < len(targets):
                try:
                    packet = next(packets)
                except StopIteration:
                    break
                except av.FFmpegError as exc:
                    raise DecodeError(f"demuxing failed: {_reason(exc)}") from exc
                try:
                    decoded = packet.decode()
                    errors = 0
                except av.FFmpegError as exc:
                    errors += 1
                    if errors > MAX_CONSECUTIVE_PACKET_ERRORS:
                        raise DecodeError(f"too many undecodable packets: {_reason(exc)}") from exc
                    continue
                for frame in decoded:
                    t = _frame_time(frame, tb, t0, last_time, fps)
                    last_time = t
                    next_target = _take_nearest(targets, next_target, chosen, previous, (t, frame), convert)
                    previous = (t, frame)
                    # Skip a long gap with one seek, once per target: a seek that lands short (sparse
                    # keyframes, end of stream) is followed by plain decoding, never by another seek.
                    if next_target < len(targets) and next_target != seeked_for and targets[next_target] - t > SEEK_GAP_SECONDS:
                        seeked_for = next_target
                        seek(targets[next_target])
                        previous = None
                        packets = container.demux(stream)
                        break
            # Flush frames still buffered in the decoder (B-frames), then take stock of the ending.
            if next_target < len(targets):
                try:
                    for frame in stream.decode(None):
                        t = _frame_time(frame, tb, t0, last_time, fps)
                        last_time = t
                        previous = (t, frame)
                        while next_target < len(targets) and t >= targets[next_target]:
                            chosen[next_target] = (t, convert(frame))
                            next_target += 1
                except (av.FFmpegError, EOFError, ValueError):
                    pass
            end_time = None
            if next_target < len(targets):
                if previous is None:
                    raise DecodeError(f"no decodable frames at or after {targets[next_target]:.2f}s")
                end_time = previous[0] + 1.0 / fps
                image = convert(previous[1])
                for i in range(next_target, len(targets)):
                    chosen[i] = (previous[0], image)
        return _in_asked_order(chosen, order, (out_h, out_w), end_time)


class PyAVKeyframeDecoder(PyAVDecoder):
    """``--fast-seek``: for each instant, the nearest keyframe. Only keyframes are decoded, so a segment costs a
    few frames' work whatever the GOP length, but a sampled frame can be up to half a GOP away from its
    instant (and frames near the end of a stream come from its last keyframe). Never used to verify others."""

    name = "pyav-keyframes"

    def read(self, path: Path, times: Sequence[float], short_side: int) -> Frames:
        order = sorted(range(len(times)), key=lambda i: times[i])
        targets = [float(times[i]) for i in order]
        chosen: list[tuple[float, np.ndarray] | None] = [None] * len(targets)
        with _open(path) as container:
            stream = _video_stream(container, path)
            ctx = stream.codec_context
            ctx.skip_frame = "NONKEY"
            t0, tb = _stream_origin(stream), stream.time_base
            out_w, out_h = scaled_size(ctx.width, ctx.height, short_side)
            fps = float(stream.average_rate or stream.guessed_rate or 25)
            convert = lambda frame: frame.to_ndarray(format="rgb24", width=out_w, height=out_h)  # noqa: E731
            if targets and targets[0] > SEEK_GAP_SECONDS:
                container.seek(int((targets[0] + t0) / tb), stream=stream, backward=True, any_frame=False)
            next_target, previous, last_time = 0, None, None
            try:
                for frame in container.decode(stream):
                    t = _frame_time(frame, tb, t0, last_time, fps)
                    last_time = t
                    next_target = _take_nearest(targets, next_target, chosen, previous, (t, frame), convert)
                    previous = (t, frame)
                    if next_target == len(targets):
                        break
            except av.FFmpegError as exc:
                if previous is None:
                    raise DecodeError(f"decoding keyframes failed: {_reason(exc)}") from exc
            if previous is None:
                raise DecodeError("no decodable keyframe")
            if next_target < len(targets):  # past the last keyframe
                image = convert(previous[1])
                for i in range(next_target, len(targets)):
                    chosen[i] = (previous[0], image)
        return _in_asked_order(chosen, order, (out_h, out_w), None)


def _take_nearest(targets, next_target: int, chosen: list, previous, current, convert) -> int:
    """Give every target up to ``current``'s time the nearer of ``previous`` and ``current`` (ties: the earlier
    frame); returns the first target still open."""
    t, frame = current
    while next_target < len(targets) and t >= targets[next_target]:
        target = targets[next_target]
        if previous is not None and target - previous[0] <= t - target:
            chosen[next_target] = (previous[0], convert(previous[1]))
        else:
            chosen[next_target] = (t, convert(frame))
        next_target += 1
    return next_target


def _in_asked_order(chosen: list, order: list[int], size: tuple[int, int], end_time: float | None) -> Frames:
    """Frames chosen for the sorted instants, put back in the order they were asked for."""
    images = np.empty((len(chosen), *size, 3), dtype=np.uint8)
    frame_times = [0.0] * len(chosen)
    for rank, index in enumerate(order):
        frame_times[index], images[index] = chosen[rank]
    return Frames(images=images, times=frame_times, end_time=end_time)


class DecordDecoder:
    """decord (fast random access, unmaintained since 2021). It maps instants to frame numbers by the average
    frame rate and has returned wrong frames on real files here: only ever use it through
    :class:`VerifiedDecoder`."""

    name = "decord"

    def probe(self, path: Path) -> VideoInfo:
        reader = self._reader(path)
        fps = float(reader.get_avg_fps()) or 25.0
        height, width = reader[0].shape[:2]
        return VideoInfo(duration=len(reader) / fps, fps=fps, width=int(width), height=int(height), codec="unknown")

    def read(self, path: Path, times: Sequence[float], short_side: int) -> Frames:
        probe = self._reader(path)
        height, width = probe[0].shape[:2]
        out_w, out_h = scaled_size(width, height, short_side)
        reader = self._reader(path, width=out_w, height=out_h)
        fps, count = float(reader.get_avg_fps()) or 25.0, len(reader)
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


FFMPEG_INSTALL = "FFmpeg's shared libraries, versions 4 to 9 (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg)"


class TorchCodecDecoder:
    """torchcodec (PyTorch's FFmpeg bindings, on the system's FFmpeg 4 to 9). It loads torch into every decode worker
    that uses it (this module imports it only here, so it stays torch-free for the other backends).

    Frames are chosen exactly as PyAV chooses them (nearest presentation time, ties to the earlier frame), from the
    stream's packet timestamps read with PyAV's demuxer and handed to torchcodec as its frame index (so torchcodec
    does not scan the file again). torchcodec then decodes each chosen frame by its timestamp, seeking to the
    keyframe before it whenever a keyframe lies between (PyAV here decodes through any gap under
    ``SEEK_GAP_SECONDS``), and every frame it returns is checked to carry the timestamp asked for. That seeking is
    its whole gain: 1.2-1.3x PyAV's segments/s with a keyframe every second; with long GOPs it decodes as much as
    PyAV and is slower (0.5-0.9x), as it converts each frame to RGB at full size before scaling it.

    Not behind :class:`VerifiedDecoder`: that spot check guards backends that guess frame positions (decord), and
    redecoding three instants with PyAV on every read costs more than torchcodec saves. When torchcodec fails on a
    file, the read is redone with PyAV and the result says so (``note``), as :class:`VerifiedDecoder` does.
    """

    name = "torchcodec"

    def __init__(self, threads: int = 0):
        self.threads = threads  # FFmpeg's decoding threads; 0 lets FFmpeg decide, as PyAV's thread_type AUTO does
        self._torchcodec = _import_torchcodec()
        self.reference = PyAVDecoder()

    def probe(self, path: Path) -> VideoInfo:
        return self.reference.probe(path)  # the same duration, hence the same segments, as every other backend

    def read(self, path: Path, times: Sequence[float], short_side: int) -> Frames:
        if not times:
            return self.reference.read(path, times, short_side)
        index = _frame_index(path, min(times), max(times))  # a file PyAV cannot demux fails here, with PyAV's message
        try:
            return self._read(path, index, times, short_side)
        except DecodeError as exc:
            result = self.reference.read(path, times, short_side)
            result.note = f"{self.name} failed ({exc}); decoded with {self.reference.name}"
            return result

    def _read(self, path: Path, index: _FrameIndex, times: Sequence[float], short_side: int) -> Frames:
        starts = [float(pts * index.time_base) - index.t0 for pts in index.pts]
        chosen = [_nearest_frame(starts, float(t)) for t in times]
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
            images = self._resize(batch.data.numpy(), *scaled_size(index.width, index.height, short_side))
        except Exception as exc:  # noqa: BLE001 - torchcodec raises RuntimeError/ValueError for FFmpeg failures
            raise DecodeError(f"torchcodec cannot decode the file: {exc}") from exc
        frame_times = [starts[i] for i in chosen]
        half_tick = float(index.time_base) / 2
        for want, got in zip(frame_times, decoded):
            if abs(want - got) > half_tick:  # FFmpeg output another frame than the one indexed (packed B-frames)
                raise DecodeError(f"torchcodec returned the frame at {got:.3f}s for the frame at {want:.3f}s")
        end_time = None
        if index.complete and max(times) > starts[-1]:  # as PyAV: asked past the last frame, the stream ends there
            end_time = starts[-1] + 1.0 / index.fps
        return Frames(images=images, times=frame_times, end_time=end_time)

    @staticmethod
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
class _FrameIndex:
    """The frames of a video stream around some instants, by their packets: torchcodec's custom frame mappings."""

    stream: int
    pts: list[int]  # sorted presentation timestamps, in ``time_base`` units
    durations: list[int]
    keyframes: list[bool]
    complete: bool  # the last frame is the stream's last
    time_base: Fraction
    t0: float
    fps: float
    width: int
    height: int


def _frame_index(path: Path, first: float, last: float) -> _FrameIndex:
    """The stream's frames from its packets (demuxed, not decoded), as PyAV's decoder would time them: from the
    keyframe before ``first`` (one seek, where PyAV's read would seek) to the frame shown next after ``last``. A long
    video is read in chunks of segments, so this costs the chunk's span, not the whole file's."""
    with _open(path) as container:
        stream = _video_stream(container, path)
        t0, tb = _stream_origin(stream), stream.time_base
        packets, complete = None, True
        if first > SEEK_GAP_SECONDS:
            container.seek(int((first + t0) / tb), stream=stream, backward=True, any_frame=False)
            packets, complete = _demux_until(container, stream, last)
            if not packets or not packets[0][2] or float(packets[0][0] * tb) - t0 > first:
                packets = None  # the seek landed past the instant or off a keyframe: read from the start
                container.seek(0)
        if packets is None:
            packets, complete = _demux_until(container, stream, last)
        if not packets:
            raise DecodeError("no decodable video frames")
        packets.sort()
        ctx = stream.codec_context
        return _FrameIndex(
            stream=stream.index,
            pts=[p for p, _, _ in packets],
            durations=[d for _, d, _ in packets],
            keyframes=[k for _, _, k in packets],
            complete=complete,
            time_base=tb,
            t0=t0,
            fps=float(stream.average_rate or stream.guessed_rate or 25),
            width=int(ctx.width),
            height=int(ctx.height),
        )


def _demux_until(container, stream, last: float) -> tuple[list[tuple[int, int, bool]], bool]:
    """(pts, duration, keyframe) of the packets from here on, until none still to come can be shown before the first
    frame seen after ``last`` (decode time past it: presentation never precedes decoding); and whether the stream
    ended first."""
    t0, tb = _stream_origin(stream), stream.time_base
    packets = []
    next_after = math.inf  # the earliest frame after ``last`` seen so far, seconds
    try:
        for packet in container.demux(stream):
            pts = packet.pts if packet.pts is not None else packet.dts
            if pts is None or packet.size == 0 or packet.is_discard:
                continue
            if packet.dts is not None and float(packet.dts * tb) - t0 > next_after:
                return packets, False
            packets.append((pts, packet.duration or 0, packet.is_keyframe))
            if (t := float(pts * tb) - t0) > last:
                next_after = min(next_after, t)
    except av.FFmpegError as exc:
        raise DecodeError(f"demuxing failed: {_reason(exc)}") from exc
    return packets, True


def _nearest_frame(starts: list[float], target: float) -> int:
    """Index of the frame nearest to ``target`` in sorted ``starts``, ties to the earlier (as :func:`_take_nearest`)."""
    after = bisect.bisect_left(starts, target)  # the first frame at or after the target
    if after == len(starts):
        return len(starts) - 1
    if after > 0 and target - starts[after - 1] <= starts[after] - target:
        return after - 1
    return after


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

    def read(self, path: Path, times: Sequence[float], short_side: int) -> Frames:
        try:
            fast = self.fast.read(path, times, short_side)
        except DecodeError as exc:
            result = self.reference.read(path, times, short_side)
            result.note = f"{self.fast.name} failed ({exc}); decoded with {self.reference.name}"
            return result
        picks = sorted({0, len(times) // 2, len(times) - 1})
        check = self.reference.read(path, [times[i] for i in picks], short_side)
        differences = [
            float(np.abs(fast.images[i].astype(np.int16) - check.images[j].astype(np.int16)).mean())
            if fast.images[i].shape == check.images[j].shape
            else float("inf")
            for j, i in enumerate(picks)
        ]
        if max(differences) > FRAME_MISMATCH_THRESHOLD or (check.end_time is not None) != (fast.end_time is not None):
            result = self.reference.read(path, times, short_side)
            result.note = (
                f"{self.fast.name} returned wrong frames (mean abs difference {max(differences):.1f} vs "
                f"{self.reference.name}); decoded with {self.reference.name}"
            )
            return result
        return fast


DECODERS: dict[str, type] = {
    "pyav": PyAVDecoder,
    "pyav-keyframes": PyAVKeyframeDecoder,
    "decord": DecordDecoder,
    "torchcodec": TorchCodecDecoder,
}
UNVERIFIED = {"pyav", "pyav-keyframes", "torchcodec"}  # the reference, its keyframe mode (differs on purpose), and
# torchcodec (checks the timestamp of every frame itself, see TorchCodecDecoder)


def get_decoder(name: str = "pyav", verified: bool = True) -> Decoder:
    """The named backend; any backend but PyAV (the reference, or its keyframe mode) and torchcodec comes wrapped in
    :class:`VerifiedDecoder`."""
    if ":" in name:  # a plugin: "package.module:ClassName"
        module, _, cls = name.partition(":")
        decoder = getattr(importlib.import_module(module), cls)()
    else:
        try:
            decoder = DECODERS[name]()
        except KeyError:
            raise ValueError(f"unknown decoder {name!r}; available: {', '.join(DECODERS)} or module:Class") from None
    return VerifiedDecoder(decoder) if verified and name not in UNVERIFIED else decoder


def _open(path: Path):
    try:
        if path.stat().st_size == 0 and path.is_file():
            raise DecodeError("the file is empty (0 bytes)")  # FFmpeg would say "Invalid data found when processing input"
        return av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise DecodeError(f"not a readable media file: {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    """An FFmpeg or OS error without the file name it carries: the caller knows which file it read, and shown to a
    client an upload's name is the server's temporary path."""
    return getattr(exc, "strerror", None) or str(exc)


def _video_stream(container, path: Path):
    if not container.streams.video:
        raise DecodeError("has no video stream")
    stream = container.streams.video[0]
    width, height = stream.codec_context.width, stream.codec_context.height
    if not width or not height:
        raise DecodeError("video stream has no frame size")
    if width * height > MAX_FRAME_PIXELS:
        raise DecodeError(f"frame size {width}x{height} is larger than the {MAX_FRAME_PIXELS // 10**6} Mpixel limit")
    return stream


def _stream_origin(stream) -> float:
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def _header_duration(container, stream) -> float | None:
    if stream.duration:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _demuxed_duration(container, stream, t0: float) -> float | None:
    end = None
    for packet in container.demux(stream):
        if packet.pts is not None:
            packet_end = float((packet.pts + (packet.duration or 0)) * stream.time_base) - t0
            end = packet_end if end is None else max(end, packet_end)
    container.seek(0)
    return end


def _first_frame_time(container, stream, path: Path) -> float:
    errors = 0
    for packet in container.demux(stream):
        try:
            for frame in packet.decode():
                return float(frame.time) if frame.time is not None else 0.0
        except av.FFmpegError as exc:
            errors += 1
            if errors > MAX_CONSECUTIVE_PACKET_ERRORS:
                raise DecodeError(f"no decodable video frames: {_reason(exc)}") from exc
    raise DecodeError("no decodable video frames")


def _frame_time(frame, tb: Fraction, t0: float, last_time: float | None, fps: float) -> float:
    if frame.pts is not None:
        return float(frame.pts * tb) - t0
    return 0.0 if last_time is None else last_time + 1.0 / fps
