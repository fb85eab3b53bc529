"""Small real media files in the formats a real library holds, written with PyAV (no ffmpeg command line).

Each sample has its own background colour (reported in :data:`SAMPLES`, so that a test can tell the files apart
by their pixels: a poster, a grid card, a decoded frame) with a white square moving across it, and a tone of its
own as audio. Which files need a browser-playable preview is part of what a sample is: only H.264 in MP4 and
VP9 in WebM play natively in every browser.

DV is fixed by its standard: PAL DV25 is 720x576 at 25 frames/s (NTSC would be 720x480 at 30000/1001, 4:1:1),
with 16-bit PCM stereo audio at 48 kHz; :func:`write_sample` writes ``dv.dv`` at that size and rate whatever it is
asked, and :data:`SAMPLES` says so (``Sample.fixed_size``, ``Sample.fixed_fps``).
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Sample:
    """What a sample file is, as a probe reports it (``container`` is one of the demuxer's comma-separated names)."""

    name: str
    container: str
    codec: str
    needs_preview: bool
    kind: str  # "video" | "photo"
    colour: tuple[int, int, int] = (128, 128, 128)  # the background, RGB: a decoded frame's corners are this colour
    audio: str | None = None  # the audio codec as probed; None: no audio track
    pix_fmt: str = "yuv420p"  # the video's pixel format as probed
    fixed_size: tuple[int, int] | None = None  # a format that allows only one frame size (DV) is written at it
    fixed_fps: int | None = None


@dataclass(frozen=True)
class _Recipe:
    """How a sample is written: the muxer, the encoders and their options."""

    muxer: str
    encoder: str
    options: tuple[tuple[str, str], ...] = ()
    audio_encoder: str | None = None
    audio_rate: int = 48000
    bit_rate: int | None = None  # for the rate-controlled legacy encoders (their default, 200 kb/s, is too low)


def _sample(name, container, codec, needs_preview, colour, audio, pix_fmt="yuv420p", **fixed) -> Sample:
    return Sample(name, container, codec, needs_preview, "video", colour, audio, pix_fmt, **fixed)


SAMPLES: dict[str, Sample] = {
    sample.name: sample
    for sample in [
        _sample("mpeg4.avi", "avi", "mpeg4", True, (200, 40, 40), "mp3"),
        _sample("mpeg2.mpg", "mpeg", "mpeg2video", True, (40, 160, 40), "mp2"),
        _sample("hevc.mkv", "matroska", "hevc", True, (40, 60, 200), "aac"),
        _sample("camcorder.mts", "mpegts", "h264", True, (220, 210, 40), "ac3"),
        _sample("h264.mp4", "mp4", "h264", False, (30, 170, 180), "aac"),
        _sample("vp9.webm", "webm", "vp9", False, (170, 40, 170), "opus"),
        _sample("wmv.wmv", "asf", "wmv2", True, (110, 60, 20), "wmav2"),
        _sample("mjpeg.avi", "avi", "mjpeg", True, (120, 120, 120), "pcm_s16le", pix_fmt="yuvj420p"),
        _sample("dv.dv", "dv", "dvvideo", True, (90, 20, 120), "pcm_s16le", fixed_size=(720, 576), fixed_fps=25),
        _sample("old.flv", "flv", "flv1", True, (130, 200, 90), "mp3"),
        Sample("photo.jpg", "jpeg", "mjpeg", False, "photo", (230, 110, 20), None, "yuvj420p"),
    ]
}

_X265 = (("preset", "ultrafast"), ("x265-params", "log-level=error"))
_RECIPES: dict[str, _Recipe] = {
    "mpeg4.avi": _Recipe("avi", "mpeg4", audio_encoder="libmp3lame", audio_rate=44100, bit_rate=1_500_000),
    "mpeg2.mpg": _Recipe("vob", "mpeg2video", audio_encoder="mp2", bit_rate=2_500_000),
    "hevc.mkv": _Recipe("matroska", "libx265", _X265, audio_encoder="aac"),
    "camcorder.mts": _Recipe("mpegts", "libx264", (("preset", "veryfast"),), audio_encoder="ac3"),
    "h264.mp4": _Recipe("mp4", "libx264", (("preset", "veryfast"),), audio_encoder="aac"),
    "vp9.webm": _Recipe("webm", "libvpx-vp9", (("deadline", "realtime"), ("cpu-used", "8")), audio_encoder="libopus"),
    "wmv.wmv": _Recipe("asf", "wmv2", audio_encoder="wmav2", audio_rate=44100, bit_rate=1_500_000),
    "mjpeg.avi": _Recipe("avi", "mjpeg", audio_encoder="pcm_s16le"),
    "dv.dv": _Recipe("dv", "dvvideo", audio_encoder="pcm_s16le"),
    "old.flv": _Recipe("flv", "flv", audio_encoder="libmp3lame", audio_rate=44100, bit_rate=1_000_000),
}

# The benchmark's library: half plays natively, half needs a preview (cycling through these), each at a bit rate
# usual for its codec (bits per pixel per frame: older codecs need more for the same picture).
_NEEDS_PREVIEW_CYCLE = ("mpeg4.avi", "mpeg2.mpg", "hevc.mkv")
_NATIVE = "h264.mp4"
_BITS_PER_PIXEL = {"h264.mp4": 0.1, "mpeg4.avi": 0.2, "mpeg2.mpg": 0.3, "hevc.mkv": 0.07}
_FPS = 25


@dataclass(frozen=True)
class _Content:
    """What a file shows: the white square (its side as a share of the frame's height, how many times it crosses
    the frame, the row it runs along) and, for the benchmark's library, a textured background that pans as a
    camera does, with grain, so that the files cost what footage costs to encode (a flat colour costs nothing)."""

    side: float = 1 / 6
    crossings: float = 1.0
    row: float = 0.5  # where it runs, as a share of the height (its centre)
    texture: float = 0.0  # the texture's amplitude around the background colour (0: a flat colour)
    grain: int = 0  # the amplitude of noise new in every frame
    pan: int = 2  # pixels per frame the texture moves
    seed: int = 0


GRAIN_FRAMES = 16  # grain repeats after this many frames (making it costs more than encoding it)


def _texture(size: tuple[int, int], count: int, content: _Content) -> np.ndarray:
    """Smooth noise at two scales, mostly in brightness, wide enough to pan across for ``count`` frames."""
    width, height = size
    wide = width + content.pan * count
    rng = np.random.default_rng(content.seed)

    def field(cell: int) -> np.ndarray:
        coarse = rng.uniform(-1, 1, (height // cell + 2, wide // cell + 2)).astype(np.float32)
        return np.asarray(Image.fromarray(coarse).resize((wide, height), Image.BICUBIC))

    brightness = 0.7 * field(24) + 0.3 * field(4)
    tint = np.stack([field(32) for _ in range(3)], axis=-1)
    return np.clip(brightness[..., None] + 0.25 * tint, -1, 1) * content.texture


class _Painter:
    """The frames of one file: the background (flat, or a panning texture with grain) with the square on its path."""

    def __init__(self, size: tuple[int, int], count: int, colour, content: _Content = _Content()):
        self.size, self.count, self.content = size, count, content
        width, height = size
        flat = np.asarray(colour, dtype=np.float32)
        background = flat + _texture(size, count, content) if content.texture else np.broadcast_to(flat, (height, width, 3))
        # uint8 grain in [0, 2 * grain] over a background lowered by grain: painting a frame is then a slice and one
        # add that cannot overflow (float math, or broadcasting one channel, cost more than encoding the frame)
        lowered = np.clip(background - content.grain, 0, 255 - 2 * content.grain)
        self.background = lowered.astype(np.uint8)
        self.grain = None
        if content.grain:
            rng = np.random.default_rng(content.seed + 1)
            grain = rng.integers(0, 2 * content.grain + 1, (GRAIN_FRAMES, height, width, 1), dtype=np.uint8)
            self.grain = np.repeat(grain, 3, axis=-1)  # the same in every channel: brightness grain

    def frame(self, index: int) -> np.ndarray:
        width, height = self.size
        left = index * self.content.pan if self.content.texture else 0
        image = self.background[:, left : left + width]
        image = image + self.grain[index % GRAIN_FRAMES] if self.grain is not None else image.copy()
        side = max(2, round(height * self.content.side))
        phase = (index / max(self.count - 1, 1) * self.content.crossings) % 2.0
        along = phase if phase <= 1.0 else 2.0 - phase
        x = round(along * (width - side))
        y = min(max(round(height * self.content.row - side / 2), 0), height - side)
        image[y : y + side, x : x + side] = 255
        return image


def frame_image(index: int, count: int, size: tuple[int, int], colour, content: _Content = _Content()) -> np.ndarray:
    """Frame ``index`` of ``count``: the background colour with the square at its place along its path (it
    sweeps left to right and back, leaving the frame's corners to the background)."""
    return _Painter(size, count, colour, content).frame(index)


def _tone(seconds: float, rate: int, frequency: float, channels: int = 2) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    wave = (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    return np.repeat(wave[None, :], channels, axis=0)


def _add_video(container, recipe: _Recipe, sample: Sample, size, fps: int):
    stream = container.add_stream(recipe.encoder, rate=fps, options=dict(recipe.options))
    stream.width, stream.height = size
    stream.pix_fmt = sample.pix_fmt
    if recipe.bit_rate:
        stream.codec_context.bit_rate = recipe.bit_rate
    stream.codec_context.gop_size = 2 * fps
    return stream


def _add_audio(container, recipe: _Recipe):
    stream = container.add_stream(recipe.audio_encoder, rate=recipe.audio_rate)
    stream.codec_context.layout = "stereo"
    if recipe.audio_encoder == "pcm_s16le":
        stream.codec_context.format = "s16"
    else:
        stream.codec_context.bit_rate = 128_000  # wmav2 has no default
    return stream


class _ToneWriter:
    """A tone of the file's own, encoded in step with the video so that the muxer interleaves the two."""

    def __init__(self, container, stream, seconds: float, rate: int, frequency: float):
        self.container, self.stream, self.rate = container, stream, rate
        self.samples = _tone(seconds, rate, frequency)
        self.written = 0

    def write_until(self, seconds: float) -> None:
        end = min(round(seconds * self.rate), self.samples.shape[1])
        if end > self.written:
            chunk = np.ascontiguousarray(self.samples[:, self.written : end])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts, frame.time_base = self.rate, self.written, Fraction(1, self.rate)
            self.written = end
            self._mux(frame)

    def close(self) -> None:
        self.write_until(self.samples.shape[1] / self.rate)
        self._mux(None)

    def _mux(self, frame) -> None:
        for packet in self.stream.encode(frame):
            self.container.mux(packet)


def _write_video(path: Path, sample: Sample, recipe: _Recipe, seconds, size, fps, audio, colour, content) -> Path:
    size = sample.fixed_size or size
    fps = sample.fixed_fps or fps
    frequency = 220.0 + 40.0 * (sum(colour) % 23)
    with av.open(str(path), "w", format=recipe.muxer) as container:
        video = _add_video(container, recipe, sample, size, fps)
        tone = None
        if audio and recipe.audio_encoder:
            tone = _ToneWriter(container, _add_audio(container, recipe), seconds, recipe.audio_rate, frequency)
        count = round(seconds * fps)
        painter = _Painter(size, count, colour, content)
        for index in range(count):
            frame = av.VideoFrame.from_ndarray(painter.frame(index), format="rgb24")
            for packet in video.encode(frame):
                container.mux(packet)
            if tone is not None:
                tone.write_until((index + 1) / fps)
        for packet in video.encode():
            container.mux(packet)
        if tone is not None:
            tone.close()
    return path


def _write_photo(path: Path, sample: Sample, size, colour) -> Path:
    Image.fromarray(frame_image(0, 2, size, colour, _Content(side=1 / 4))).save(path, "JPEG", quality=90)
    return path


def write_sample(
    folder: Path,
    name: str,
    seconds: float = 6.0,
    size: tuple[int, int] = (320, 240),
    fps: int = 25,
    audio: bool = True,
    colour: tuple[int, int, int] | None = None,
) -> Path:
    """Write the sample ``name`` (a key of :data:`SAMPLES`) as ``folder/name``; ``colour`` overrides its own.
    A photo ignores ``seconds``, ``fps`` and ``audio``; DV ignores ``size`` and ``fps`` (see the module docstring)."""
    if name not in SAMPLES:
        raise KeyError(f"no sample named {name!r}: the samples are {', '.join(SAMPLES)}")
    return _write(Path(folder) / name, name, seconds, size, fps, audio, colour, _Content())


def _write(path: Path, name: str, seconds, size, fps, audio, colour, content: _Content, bit_rate=None) -> Path:
    sample = SAMPLES[name]
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = tuple(colour or sample.colour)
    if sample.kind == "photo":
        return _write_photo(path, sample, size, colour)
    recipe = replace(_RECIPES[name], bit_rate=bit_rate) if bit_rate else _RECIPES[name]
    return _write_video(path, sample, recipe, seconds, size, fps, audio, colour, content)


def write_library(folder: Path, names=None, seconds: float = 6.0) -> dict[str, Path]:
    """Every sample (or those of ``names``) in ``folder``: file name -> path."""
    return {name: write_sample(folder, name, seconds) for name in (names or SAMPLES)}


def varied_colour(index: int) -> tuple[int, int, int]:
    """A colour per index, hues a golden angle apart (so neighbours differ), never near white or black."""
    hue = (index * 0.618033988749895) % 1.0
    saturation, value = (0.75, 0.8) if index % 2 == 0 else (0.55, 0.6)
    return tuple(round(255 * c) for c in colorsys.hsv_to_rgb(hue, saturation, value))


def write_mixed_library(folder: Path, files: int, seconds: float, size: tuple[int, int] = (640, 360)) -> list[Path]:
    """``files`` videos for the previews benchmark: the even ones H.264 in MP4 (they play natively), the odd ones
    MPEG-4 in AVI, MPEG-2 in MPEG-PS and HEVC in Matroska in turn (they need previews); each with its own colour,
    square (size, speed, row) and textured, panning, grainy background, at its codec's usual bit rate."""
    folder = Path(folder)
    paths = []
    for index in range(files):
        name = _NATIVE if index % 2 == 0 else _NEEDS_PREVIEW_CYCLE[(index // 2) % len(_NEEDS_PREVIEW_CYCLE)]
        content = _Content(
            side=0.1 + 0.05 * (index % 4),
            crossings=1 + index % 3,
            row=0.3 + 0.1 * (index % 5),
            texture=50.0,
            grain=4,
            pan=1 + index % 3,
            seed=index,
        )
        bit_rate = round(_BITS_PER_PIXEL[name] * size[0] * size[1] * _FPS)
        path = folder / f"{index:03d}-{name}"
        paths.append(_write(path, name, seconds, size, _FPS, True, varied_colour(index), content, bit_rate))
    return paths
