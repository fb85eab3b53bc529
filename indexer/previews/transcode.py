"""A browser-playable preview of a video (:func:`make_preview`): the whole file transcoded with PyAV to H.264 and AAC
in an MP4 whose index comes first, small and quick to seek.

Times follow the indexer's convention (:mod:`indexer.decoders.base`): seconds from the start of the first video
stream (``VideoStream.t0``). A preview starts at 0 where its source's video starts (an MPEG-TS's at ~1.4 s), so a
segment's times in the catalog are the preview's times; audio is moved by the same offset (cut where it starts
before the video, led by silence where it starts after). Each kept frame keeps its source time: a frame rate above
``max_fps`` is capped by dropping frames, never by retiming them.
"""

from __future__ import annotations

import math
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from indexer.decoders.base import (
    TIME_TOLERANCE,
    VideoStream,
    decoded_packets,
    failure_reason,
    open_video_stream,
)
from indexer.errors import MAX_ASPECT_RATIO, DecodeError, PreviewError
from indexer.previews.probe import display_rotation, still_picture
from indexer.previews.sprites import part_path

PREVIEW_HEIGHT = 360
KEYFRAME_SECONDS = 2.0  # at most this far apart: the browser seeks to any segment from a keyframe close before it
# superfast/crf 30: on 640x360 MPEG-4 and MPEG-2 sources (one thread, 1000 frames) it took 3.2 s of CPU for 12.5 %
# of their bytes, against veryfast/28's 4.8 s for 14.2 % and ultrafast/32's 2.1 s for 15.0 % (x264's default,
# medium/23, is ~6x veryfast's time for three times its size); still sharp enough for a 360p grid and player.
X264_PRESET = "superfast"
X264_CRF = 30
AUDIO_BIT_RATE = 96_000  # AAC stereo
AAC_RATES = frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000})
AUDIO_RATE = 48_000  # what a source at any other rate is resampled to
TIME_BASE = Fraction(1, 90_000)  # holds every common frame time exactly (1/25, 1/30, 1001/30000, 1 ms)


def preview_size(width: int, height: int, sample_aspect: Fraction | None = None, target_height: int = PREVIEW_HEIGHT):
    """(width, height) of a preview: ``target_height`` high at most (never upscaled), the display aspect kept (an
    anamorphic DV or DVD source's pixels made square), both even, as 4:2:0 H.264 requires."""
    if min(width, height) < 1 or max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise PreviewError(f"frame size {width}x{height} is too elongated for a preview")
    aspect = float(sample_aspect) if sample_aspect and sample_aspect > 0 else 1.0
    out_height = max(2, min(target_height, height) // 2 * 2)
    out_width = max(2, round(width * aspect * out_height / height / 2) * 2)
    return out_width, out_height


def make_preview(
    source: Path, dest: Path, height: int = PREVIEW_HEIGHT, max_fps: float = 30.0, threads: int | None = None
) -> int:
    """Transcode ``source`` to a preview at ``dest`` (written aside, then moved into place); returns its size in
    bytes. ``threads`` bounds the decoder's and x264's threads (None: as many as FFmpeg likes). Raises
    :class:`PreviewError` with a one-line reason when no preview can be made, leaving nothing at ``dest``."""
    source, dest = Path(source), Path(dest)
    part = None
    try:
        part = part_path(dest)
        _transcode(source, part, height, max_fps, threads)
        size = part.stat().st_size
        os.replace(part, dest)
        return size
    except PreviewError:
        raise
    except DecodeError as exc:
        raise PreviewError(f"cannot make a preview: {exc}") from exc
    except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
        raise PreviewError(f"cannot make a preview: {failure_reason(exc)}") from exc
    finally:
        if part is not None:
            part.unlink(missing_ok=True)


def _transcode(source: Path, part: Path, height: int, max_fps: float, threads: int | None) -> None:
    with open_video_stream(source) as video:
        if still_picture(video.container.format.name):
            raise PreviewError(f"no preview of a still picture ({video.container.format.name}): it is shown as it is")
        video.stream.thread_type = "AUTO"
        if threads:
            video.stream.codec_context.thread_count = threads
        audio_in = video.container.streams.audio[0] if video.container.streams.audio else None
        sample_aspect = video.stream.sample_aspect_ratio or video.stream.codec_context.sample_aspect_ratio
        size = preview_size(video.width, video.height, sample_aspect, height)
        with av.open(str(part), "w", format="mp4", container_options={"movflags": "+faststart"}) as out:
            picture = _VideoTrack(out, size, min(video.fps, max_fps), max_fps, threads)
            rotation = display_rotation(source)
            if rotation:  # shown turned, as the browser shows the original: the pixels stay the indexer's frames
                picture.stream.set_display_rotation(rotation)
            sound = _AudioTrack(out, audio_in, video.t0) if audio_in is not None else None
            last_time = _decode(video, audio_in, picture, sound)
            if last_time is None:
                raise PreviewError("cannot make a preview: no decodable video frames")
            picture.finish(end=last_time + 1.0 / video.fps)  # the last frame is shown for one frame's time
            if sound is not None:
                sound.finish()


def _decode(video: VideoStream, audio_in, picture: _VideoTrack, sound: _AudioTrack | None) -> float | None:
    """Every frame of the video stream (and of ``audio_in``) into its track; returns the last video frame's time.
    An undecodable packet is skipped; too many in a row fail the preview (:func:`decoded_packets`)."""
    streams = [video.stream] + ([audio_in] if audio_in is not None else [])
    last_time = None
    for stream, frames in decoded_packets(video.container, *streams):
        for frame in frames:
            if stream is video.stream:
                last_time = video.frame_time(frame, last_time)
                picture.add(frame, last_time)
            elif sound is not None:
                sound.add(frame)
    return last_time


class _VideoTrack:
    """The preview's H.264 stream: each frame kept at its source time, one per ``1/max_fps`` slot at most, a
    keyframe forced every ``KEYFRAME_SECONDS``. A frame is encoded once the next kept one arrives, which ends it."""

    def __init__(self, out, size: tuple[int, int], fps: float, max_fps: float, threads: int | None):
        self.out, self.size, self.max_fps = out, size, max_fps
        rate = Fraction(fps).limit_denominator(1001)
        self.stream = out.add_stream("libx264", rate=rate, options={"preset": X264_PRESET, "crf": str(X264_CRF)})
        self.stream.width, self.stream.height = size
        self.stream.pix_fmt = "yuv420p"
        ctx = self.stream.codec_context
        ctx.time_base = TIME_BASE
        ctx.gop_size = max(1, math.floor(KEYFRAME_SECONDS * fps))
        ctx.thread_type = "AUTO"
        ctx.thread_count = threads or 0
        self.pending: tuple[int, av.VideoFrame] | None = None  # (pts, frame) waiting for its end
        self.last_slot = -1
        self.last_key: int | None = None

    def add(self, frame: av.VideoFrame, t: float) -> None:
        t = max(t, 0.0)  # a frame before the stream's start is shown from 0
        pts = round(t / TIME_BASE)
        slot = math.floor(t * self.max_fps + TIME_TOLERANCE)
        if self.pending is not None:
            if pts == 0 == self.pending[0]:
                pass  # frames up to the stream's start: the last of them is shown at 0, as the decoder would
            elif pts <= self.pending[0] or slot <= self.last_slot:
                return  # out of order, at the same time as the last one, or over max_fps (a slot's first is kept)
            else:
                self._encode(*self.pending, end=pts)
        self.pending = (pts, frame.reformat(width=self.size[0], height=self.size[1], format="yuv420p"))
        self.last_slot = slot

    def finish(self, end: float) -> None:
        if self.pending is not None:
            self._encode(*self.pending, end=max(round(end / TIME_BASE), self.pending[0] + 1))
        for packet in self.stream.encode(None):
            self.out.mux(packet)

    def _encode(self, pts: int, frame: av.VideoFrame, end: int) -> None:
        frame.pts, frame.time_base, frame.duration = pts, TIME_BASE, end - pts
        # A decoded frame keeps its source picture type: every frame of an intra-only source (DV, MJPEG) would be
        # an x264 keyframe. x264 chooses, but for the keyframe due every KEYFRAME_SECONDS.
        frame.pict_type = av.video.frame.PictureType.NONE
        if self.last_key is None or (pts - self.last_key) * TIME_BASE >= KEYFRAME_SECONDS - TIME_TOLERANCE:
            frame.pict_type = av.video.frame.PictureType.I
            self.last_key = pts
        for packet in self.stream.encode(frame):
            self.out.mux(packet)


class _AudioTrack:
    """The preview's AAC stereo stream from the source's first audio stream, its samples laid end to end from the
    video's start (``t0``): the samples before it cut, the time after it until the audio starts filled with silence."""

    def __init__(self, out, source, t0: float):
        self.out, self.t0 = out, t0
        rate = source.codec_context.sample_rate
        self.rate = rate if rate in AAC_RATES else AUDIO_RATE
        self.stream = out.add_stream("aac", rate=self.rate)
        self.stream.layout = "stereo"
        self.stream.bit_rate = AUDIO_BIT_RATE
        self.stream.codec_context.time_base = Fraction(1, self.rate)
        self.resampler = av.AudioResampler(format="fltp", layout="stereo", rate=self.rate)
        self.written: int | None = None  # samples encoded; None before the first frame
        self.skip = 0  # samples still to cut (audio that starts before the video)

    def add(self, frame: av.AudioFrame) -> None:
        if self.written is None:
            start = frame.time - self.t0 if frame.time is not None else 0.0
            self.written = 0
            self.skip = max(0, round(-start * self.rate))
            self._silence(max(0, round(start * self.rate)))
        for resampled in self.resampler.resample(frame):
            self._put(resampled)

    def finish(self) -> None:
        for resampled in self.resampler.resample(None):
            self._put(resampled)
        for packet in self.stream.encode(None):
            self.out.mux(packet)

    def _silence(self, samples: int) -> None:
        while samples > 0:  # one second at a time: a late start does not allocate its whole length
            count = min(samples, self.rate)
            self._encode(np.zeros((2, count), dtype=np.float32))
            samples -= count

    def _put(self, frame: av.AudioFrame) -> None:
        if self.skip:
            samples = frame.to_ndarray()
            cut = min(self.skip, samples.shape[1])
            self.skip -= cut
            if cut < samples.shape[1]:
                self._encode(samples[:, cut:])
            return
        frame.pts, frame.time_base = self.written, Fraction(1, self.rate)
        self.written += frame.samples
        self._send(frame)

    def _encode(self, samples: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout="stereo")
        frame.sample_rate = self.rate
        frame.pts, frame.time_base = self.written, Fraction(1, self.rate)
        self.written += frame.samples
        self._send(frame)

    def _send(self, frame: av.AudioFrame) -> None:
        for packet in self.stream.encode(frame):
            self.out.mux(packet)
