"""PyAV (FFmpeg): the default backend, and the reference the others are checked against.

Frames for a list of instants are read in one forward pass over the stream: the decoder seeks only
across gaps longer than ``SEEK_GAP_SECONDS`` (never once per frame), converts only the chosen frames,
and scales them inside libswscale (or, for ``opencv-bilinear``, converts each at full size and resizes it as
OpenCV would). Header durations are not trusted: when the stream ends before the instants asked for, the
result says where it really ended.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import av
import numpy as np

from indexer.decoders.base import (
    MAX_CONSECUTIVE_PACKET_ERRORS,
    SEEK_GAP_SECONDS,
    TIME_TOLERANCE,
    Frames,
    VideoInfo,
    VideoStream,
    decoded_packets,
    failure_reason,
    frame_size,
    open_video_stream,
    past_the_end,
)
from indexer.decoders.resample import OPENCV_BILINEAR, SWSCALE, opencv_bilinear
from indexer.errors import DecodeError


class PyAVDecoder:
    """FFmpeg through PyAV: decodes everything FFmpeg does; the reference for the other backends."""

    name = "pyav"

    def probe(self, path: Path) -> VideoInfo:
        with open_video_stream(path) as video:
            _decode_first_frame(video)
            duration = _header_duration(video)
            if duration is None:
                duration = _demuxed_duration(video)
            if duration is None or duration <= 0:
                raise DecodeError("cannot determine the video's duration")
            codec = video.stream.codec_context.codec  # the codec's own name ("av1"), not its decoder's ("libdav1d")
            codec = codec.canonical_name if codec is not None else ""
            return VideoInfo(duration=duration, fps=video.fps, width=video.width, height=video.height, codec=codec)

    def read(self, path: Path, times: Sequence[float], short_side: int, resample: str = SWSCALE) -> Frames:
        with open_video_stream(path) as video:
            video.stream.thread_type = "AUTO"
            picks = ContainingFrames(times, video, short_side, resample)
            _decode_forward(video, picks)
            if not picks.done:
                _decode_buffered(video, picks)
            end_time = None
            if not picks.done:  # the instants left lie in the last frame, or past the stream's end
                if picks.previous is None:
                    raise DecodeError(f"no decodable frames at or after {picks.open_target:.2f}s")
                stream_end = picks.last_frame_for_the_rest() + 1.0 / video.fps
                end_time = stream_end if past_the_end(picks.targets[-1], stream_end) else None
        return picks.frames(end_time)


class FramePicks:
    """The frames chosen for a list of instants while a stream is decoded forward, converted to RGB at the output
    size as they are chosen (one frame at a time, whatever ``resample`` is). Which frame an instant gets is the
    subclass's rule (:meth:`offer`)."""

    def __init__(self, times: Sequence[float], video: VideoStream, short_side: int, resample: str = SWSCALE):
        self.video = video
        self.resample = resample
        self.width, self.height = frame_size(video.width, video.height, short_side, resample)  # refused before decoding
        self.order = sorted(range(len(times)), key=lambda i: times[i])
        self.targets = [float(times[i]) for i in self.order]
        self.chosen: list[tuple[float, np.ndarray] | None] = [None] * len(self.targets)
        self.next = 0  # the first target still open
        self.previous: tuple[float, av.VideoFrame] | None = None  # the last frame offered, with its time
        self.last_time: float | None = None
        self._converted: tuple[av.VideoFrame, np.ndarray] | None = None  # a frame chosen for several instants

    @property
    def done(self) -> bool:
        return self.next == len(self.targets)

    @property
    def open_target(self) -> float:
        return self.targets[self.next]

    def worth_a_seek(self, now: float) -> bool:
        """The next open instant lies more than ``SEEK_GAP_SECONDS`` past ``now``: reached sooner by one seek."""
        return not self.done and self.open_target - now > SEEK_GAP_SECONDS

    def offer(self, frame: av.VideoFrame) -> float:
        raise NotImplementedError

    def choose(self, t: float, frame: av.VideoFrame) -> None:
        """The next open instant gets ``frame`` (shown at ``t``)."""
        self.chosen[self.next] = (t, self._convert(frame))
        self.next += 1

    def last_frame_for_the_rest(self) -> float:
        """Every open instant gets the last frame offered (the stream has no later one); returns that frame's time."""
        t, frame = self.previous
        while not self.done:
            self.choose(t, frame)
        return t

    def frames(self, end_time: float | None) -> Frames:
        """The chosen frames, put back in the order the instants were asked for."""
        images = np.empty((len(self.chosen), self.height, self.width, 3), dtype=np.uint8)
        frame_times = [0.0] * len(self.chosen)
        for rank, index in enumerate(self.order):
            frame_times[index], images[index] = self.chosen[rank]
        return Frames(images=images, times=frame_times, end_time=end_time)

    def _time(self, frame: av.VideoFrame) -> float:
        self.last_time = self.video.frame_time(frame, self.last_time)
        return self.last_time

    def _convert(self, frame: av.VideoFrame) -> np.ndarray:
        if self._converted is not None and self._converted[0] is frame:
            return self._converted[1]
        if self.resample == OPENCV_BILINEAR:  # the full-size frame, resized as ViFi-CLIP's pipeline resizes it
            image = opencv_bilinear(frame.to_ndarray(format="rgb24"), self.width, self.height)
        else:
            image = frame.to_ndarray(format="rgb24", width=self.width, height=self.height)
        self._converted = (frame, image)
        return image


class ContainingFrames(FramePicks):
    """Each instant gets the frame shown at it: the last frame whose time is at or before it (up to
    ``TIME_TOLERANCE``), known once the frame after it arrives. ViFi-CLIP's sampling of frame
    ``floor((i + 0.5) * N / T)`` is this rule at the instants :func:`~indexer.segment.sample_frame_times` gives."""

    def offer(self, frame: av.VideoFrame) -> float:
        """Every open instant before ``frame``'s time gets the previous frame (the first frame after a seek, or
        the stream's first, when none came before it); returns ``frame``'s time."""
        t = self._time(frame)
        while not self.done and t > self.open_target + TIME_TOLERANCE:
            self.choose(*(self.previous or (t, frame)))
        self.previous = (t, frame)
        return t


def _decode_forward(video: VideoStream, picks: FramePicks) -> None:
    """Decode from the start, or from one seek before the first instant, until every instant has its frame or the
    stream ends. A longer gap than ``SEEK_GAP_SECONDS`` is skipped with one seek, once per instant: a seek that lands
    short (sparse keyframes, end of stream) is followed by plain decoding, never by another seek."""
    seeked_for = None
    if picks.worth_a_seek(0.0):
        seeked_for = 0
        video.seek(picks.open_target)
    packets = _decoded_packets(video)
    while not picks.done:
        frames = next(packets, None)
        if frames is None:
            return
        for frame in frames:
            t = picks.offer(frame)
            if picks.next != seeked_for and picks.worth_a_seek(t):
                seeked_for = picks.next
                video.seek(picks.open_target)
                picks.previous = None  # the frames after a seek do not follow it
                packets = _decoded_packets(video)
                break


def _decoded_packets(video: VideoStream) -> Iterator[list[av.VideoFrame]]:
    """The frames of each packet of the video stream demuxed from here on (:func:`decoded_packets`)."""
    return (frames for _, frames in decoded_packets(video.container, video.stream))


def _decode_buffered(video: VideoStream, picks: FramePicks) -> None:
    """The frames still buffered in the decoder at the end of the stream (B-frames)."""
    try:
        for frame in video.stream.decode(None):
            picks.offer(frame)
    except (av.FFmpegError, EOFError, ValueError):
        pass


def _decode_first_frame(video: VideoStream) -> None:
    """Raises :class:`DecodeError` unless the stream has a frame that decodes."""
    errors = 0
    for packet in video.container.demux(video.stream):
        try:
            if packet.decode():
                return
        except av.FFmpegError as exc:
            errors += 1
            if errors > MAX_CONSECUTIVE_PACKET_ERRORS:
                raise DecodeError(f"no decodable video frames: {failure_reason(exc)}") from exc
    raise DecodeError("no decodable video frames")


# Demuxers whose streams' durations FFmpeg estimates from the bit rate, while the container's comes from the first
# and last timestamps: a 6 s MPEG-PS clip's video stream "lasts" 5.64 s, a 2 s one's 0.1 s.
TIMESTAMPED_CONTAINERS = frozenset({"mpeg", "mpegts", "mpegvideo"})


def _header_duration(video: VideoStream) -> float | None:
    container = video.container
    if container.format.name in TIMESTAMPED_CONTAINERS and container.duration and container.start_time is not None:
        return (container.start_time + container.duration) / av.time_base - video.t0  # to the container's end
    if video.stream.duration:
        return float(video.stream.duration * video.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _demuxed_duration(video: VideoStream) -> float | None:
    """Where the last packet ends, from a pass over the packets (then back to the start)."""
    end = None
    for packet in video.container.demux(video.stream):
        if packet.pts is not None:
            packet_end = video.seconds(packet.pts + (packet.duration or 0))
            end = packet_end if end is None else max(end, packet_end)
    video.container.seek(0)
    return end
