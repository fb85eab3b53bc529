"""Previews and sprites (indexer/previews): what plays in a browser, the H.264 preview of what does not (its times
held to the source's frame by frame, as the indexer's decoder reads them), and the sprite sheet with its WebVTT
track. Every source is written here with PyAV, each frame carrying its number (tests/videos.py)."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from indexer.decoders import get_decoder
from indexer.errors import NotMediaError, PreviewError
from indexer.previews import (
    PREVIEW_MODES,
    browser_playable,
    display_rotation,
    make_preview,
    make_sprites,
    needs_preview,
    preview_size,
    probe_media,
    sprite_times,
)
from tests.videos import frame_image, make_corrupt, read_frame_number

FPS = 25
MP4 = "mov,mp4,m4a,3gp,3g2,mj2"
QUIET_X265 = {"preset": "ultrafast", "x265-params": "log-level=error"}
FAST_VP9 = {"deadline": "realtime", "cpu-used": "8"}
TONE_AFTER = 0.5  # the sources' audio: silence, then a tone from this many seconds into the audio stream


def write_source(path, codec, fmt=None, frames=64, size=(320, 240), fps=FPS, options=None, audio=None, **start):
    """A video whose frame i shows the number i; ``audio``: an audio encoder (silence, then a tone); ``video_start`` /
    ``audio_start``: where each stream's first timestamp lies, in seconds (the video's in whole frames);
    ``rotation``: how far it is turned on display (degrees counter-clockwise, as a phone records portrait)."""
    with av.open(str(path), "w", format=fmt) as container:
        video = container.add_stream(codec, rate=fps, options=options or {})
        video.width, video.height = size
        video.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        video.codec_context.bit_rate = 2_000_000  # for the rate-controlled encoders (mpeg4, mpeg2video)
        if start.get("rotation"):
            video.set_display_rotation(start["rotation"])
        sound = container.add_stream(audio, rate=48000) if audio else None
        if sound:
            sound.layout = "stereo"
        first = round(start.get("video_start", 0.0) * fps)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(frame_image(i, *size, (200, 30, 30)), format="rgb24")
            frame.pts = first + i
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound:
            write_tone(container, sound, frames / fps, start.get("audio_start", 0.0))
    return path


def write_tone(container, stream, seconds: float, start: float) -> None:
    resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="stereo", rate=48000)
    t = np.arange(round(seconds * 48000)) / 48000
    wave = np.where(t >= TONE_AFTER, 0.5 * np.sin(2 * np.pi * 440 * t), 0.0).astype(np.float32)
    for at in range(0, len(t), 1024):
        frame = av.AudioFrame.from_ndarray(np.stack([wave[at : at + 1024]] * 2), format="fltp", layout="stereo")
        frame.sample_rate, frame.time_base, frame.pts = 48000, Fraction(1, 48000), round(start * 48000) + at
        for resampled in resampler.resample(frame):
            container.mux(stream.encode(resampled))
    container.mux(stream.encode(None))


# name -> (encoder, muxer, encoder options, audio encoder), and what probe_media must say of it
SOURCES = {
    "mpeg4.avi": ("mpeg4", "avi", None, None),
    "mpeg2.mpg": ("mpeg2video", "mpeg", None, "mp2"),
    "hevc.mkv": ("libx265", "matroska", QUIET_X265, None),
    "h264.mts": ("libx264", "mpegts", None, None),
    "h264.mp4": ("libx264", "mp4", None, "aac"),
    "vp9.webm": ("libvpx-vp9", "webm", FAST_VP9, None),
    "h264.mkv": ("libx264", "matroska", None, None),
}
PROBED = {
    "mpeg4.avi": ("avi", "mpeg4", ()),
    "mpeg2.mpg": ("mpeg", "mpeg2video", ("mp2",)),
    "hevc.mkv": ("matroska,webm", "hevc", ()),
    "h264.mts": ("mpegts", "h264", ()),
    "h264.mp4": (MP4, "h264", ("aac",)),
    "vp9.webm": ("matroska,webm", "vp9", ()),
    "h264.mkv": ("matroska,webm", "h264", ()),
}
PLAYABLE = {"h264.mp4", "vp9.webm"}


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sources")
    return {
        name: write_source(folder / name, codec, fmt, options=options, audio=audio)
        for name, (codec, fmt, options, audio) in SOURCES.items()
    }


@pytest.fixture(scope="module")
def camcorder(tmp_path_factory) -> Path:
    """Four seconds of H.264 and MP2 in MPEG-TS, the video starting 0.4 s after the audio (and the stream's clock
    at the muxer's offset, not 0)."""
    path = tmp_path_factory.mktemp("camcorder") / "camcorder.mts"
    return write_source(path, "libx264", "mpegts", frames=100, audio="mp2", video_start=0.4)


@pytest.fixture(scope="module")
def camcorder_preview(camcorder, tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("previews") / "camcorder.mp4"
    assert make_preview(camcorder, dest, threads=2) == dest.stat().st_size
    return dest


@pytest.mark.parametrize("name", SOURCES)
def test_probe_names_the_container_and_codecs_and_playability(sources, name):
    probe = probe_media(sources[name])
    assert (probe.container, probe.video_codec, probe.audio_codecs) == PROBED[name]
    assert (probe.width, probe.height, probe.pixel_format) == (320, 240, "yuv420p")
    assert probe.duration == pytest.approx(64 / FPS, abs=0.15)
    assert probe.playable is (name in PLAYABLE)
    assert needs_preview(probe, "auto") is (name not in PLAYABLE)
    assert needs_preview(probe, "all") and not needs_preview(probe, "off")


def test_needs_preview_refuses_an_unknown_mode(sources):
    with pytest.raises(ValueError, match="auto, all, off"):
        needs_preview(probe_media(sources["h264.mp4"]), "sometimes")
    assert PREVIEW_MODES == ("auto", "all", "off")


@pytest.mark.parametrize(
    ("container", "codec", "pixels", "audio", "suffix", "playable"),
    [
        (MP4, "h264", "yuvj420p", ["mp3"], ".mov", True),
        (MP4, "av1", "yuv420p10le", ["opus", "flac"], ".mp4", True),
        (MP4, "vp9", "yuv420p", [], "", True),
        (MP4, "h264", "yuv420p10le", [], ".mp4", False),  # High 10
        (MP4, "h264", "yuv422p", ["aac"], ".mp4", False),
        (MP4, "hevc", "yuv420p", ["aac"], ".mp4", False),
        (MP4, "mpeg4", "yuv420p", [], ".mp4", False),
        (MP4, "h264", "yuv420p", ["aac", "ac3"], ".mp4", False),  # an AC-3 track plays silently
        (MP4, "h264", "yuv420p", ["aac"], ".avi", False),  # served as video/x-msvideo
        ("matroska,webm", "vp8", "yuv420p", ["vorbis"], ".webm", True),
        ("matroska,webm", "av1", "yuv420p", ["opus"], ".mkv", True),
        ("matroska,webm", "vp9", "yuv420p", ["aac"], ".webm", False),
        ("matroska,webm", "h264", "yuv420p", [], ".mkv", False),
        ("mpegts", "h264", "yuv420p", ["aac"], ".mts", False),
        ("avi", "h264", "yuv420p", [], ".avi", False),
        ("flv", "h264", "yuv420p", ["aac"], ".flv", False),
        (MP4, None, None, ["aac"], ".m4a", False),
    ],
)
def test_browser_playable_table(container, codec, pixels, audio, suffix, playable):
    assert browser_playable(container, codec, pixels, audio, suffix) is playable


def test_probe_of_what_is_no_video_raises_not_media(tmp_path, sources):
    audio_only = tmp_path / "tone.m4a"
    with av.open(str(audio_only), "w", format="mp4") as container:
        write_tone(container, container.add_stream("aac", rate=48000), 1.0, 0.0)
    for path in (audio_only, make_corrupt(tmp_path / "noise.mp4"), tmp_path / "missing.mp4"):
        with pytest.raises(NotMediaError):
            probe_media(path)
    (tmp_path / "empty.mkv").write_bytes(b"")
    with pytest.raises(NotMediaError, match="empty"):
        probe_media(tmp_path / "empty.mkv")


@pytest.mark.parametrize(
    ("size", "sample_aspect", "expected"),
    [
        ((1920, 1080), None, (640, 360)),
        ((1080, 1920), None, (202, 360)),  # portrait: 360 high too
        ((320, 240), None, (320, 240)),  # never upscaled
        ((321, 241), None, (320, 240)),  # even
        ((720, 576), Fraction(16, 15), (480, 360)),  # PAL DV 4:3, square pixels
        ((720, 480), Fraction(32, 27), (640, 360)),  # NTSC 16:9
    ],
)
def test_preview_size(size, sample_aspect, expected):
    assert preview_size(*size, sample_aspect) == expected


def box_types(path: Path) -> list[str]:
    """The top-level ISO-BMFF boxes of an MP4, in file order."""
    data, at, types = path.read_bytes(), 0, []
    while at + 8 <= len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        types.append(data[at + 4 : at + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[at + 8 : at + 16], "big")
        at += size if size else len(data)
    return types


def test_preview_is_faststart_h264_aac_with_keyframes_every_two_seconds(camcorder_preview):
    probe = probe_media(camcorder_preview)
    assert (probe.container, probe.video_codec, probe.pixel_format, probe.audio_codecs) == (MP4, "h264", "yuv420p", ("aac",))
    assert probe.playable and probe.height <= 360 and probe.width % 2 == 0 and probe.height % 2 == 0
    boxes = box_types(camcorder_preview)
    assert boxes.index("moov") < boxes.index("mdat")
    with av.open(str(camcorder_preview)) as container:
        stream = container.streams.video[0]
        assert float(stream.start_time * stream.time_base) == 0.0
        keys = [float(p.pts * p.time_base) for p in container.demux(stream) if p.is_keyframe and p.pts is not None]
        assert stream.frames == 100
    assert keys[0] == 0.0 and max(np.diff(keys + [probe.duration])) <= 2.0 + 1e-6
    assert probe.duration == pytest.approx(100 / FPS, abs=0.1)


def test_preview_shows_the_source_frame_at_each_time(camcorder, camcorder_preview):
    """The source's clock starts at its video stream's first timestamp (here the muxer's offset plus 0.4 s), as the
    indexer's decoder counts it: frame i is at i / 25 in both, so a segment's times in the catalog are the preview's."""
    times = [0.0, 0.5, 1.02, 2.0, 3.0, 3.5, 3.97]
    decoder = get_decoder("pyav")
    source = [read_frame_number(image) for image in decoder.read(camcorder, times, 240).images]
    preview = [read_frame_number(image) for image in decoder.read(camcorder_preview, times, 240).images]
    assert source == [int(t * FPS + 1e-6) for t in times]
    assert preview == source
    with av.open(str(camcorder_preview)) as container:  # and on the preview's own clock, as a browser plays it
        frames = list(container.decode(video=0))
    shown = {round(frame.time * FPS): read_frame_number(frame.to_ndarray(format="rgb24")) for frame in frames}
    assert shown == {i: i for i in range(100)}


def tone_onset(path: Path) -> float:
    """When the first audio stream's tone starts, in seconds of its own clock."""
    with av.open(str(path)) as container:
        frames = list(container.decode(audio=0))
    samples = np.concatenate([frame.to_ndarray()[0] for frame in frames])
    return frames[0].time + int(np.argmax(np.abs(samples) > 0.1)) / frames[0].sample_rate


def test_preview_audio_keeps_its_place_against_the_video(camcorder_preview, tmp_path):
    """Audio is moved with the video's start: cut where it starts before it, led by silence where it starts after."""
    assert tone_onset(camcorder_preview) == pytest.approx(TONE_AFTER - 0.4, abs=0.03)
    late = write_source(tmp_path / "late.mkv", "libx264", "matroska", frames=50, audio="aac", audio_start=0.6)
    preview = tmp_path / "late.mp4"
    make_preview(late, preview)
    assert tone_onset(preview) == pytest.approx(TONE_AFTER + 0.6, abs=0.03)


@pytest.mark.parametrize("name", ["mpeg4.avi", "mpeg2.mpg", "hevc.mkv", "vp9.webm"])
def test_previews_of_other_formats_keep_frames_and_length(sources, tmp_path, name):
    dest = tmp_path / "preview.mp4"
    make_preview(sources[name], dest, height=120, threads=1)
    probe = probe_media(dest)
    assert (probe.video_codec, probe.width, probe.height) == ("h264", 160, 120)
    assert probe.duration == pytest.approx(64 / FPS, abs=0.1)
    times = [0.1, 1.3, 2.5]
    assert [read_frame_number(i) for i in get_decoder("pyav").read(dest, times, 120).images] == [2, 32, 62]


def test_preview_caps_the_frame_rate_by_dropping_frames(tmp_path):
    source = write_source(tmp_path / "fast.mp4", "libx264", "mp4", frames=100, size=(160, 96), fps=50)
    dest = tmp_path / "preview.mp4"
    make_preview(source, dest, max_fps=30)
    with av.open(str(dest)) as container:
        times = [float(frame.time) for frame in container.decode(video=0)]
    assert 50 <= len(times) <= 61 and min(np.diff(times)) >= 1 / 50 - 1e-6
    assert times[-1] + 1 / 50 == pytest.approx(2.0, abs=0.03)
    numbers = [read_frame_number(i) for i in get_decoder("pyav").read(dest, [0.5, 1.0, 1.9], 96).images]
    assert all(0 <= expected - got <= 1 for got, expected in zip(numbers, [25, 50, 95]))


def test_preview_keyframes_follow_time_not_frame_counts(tmp_path):
    """A source declaring 25 frames/s with a frame every 0.2 s: 50 frames would be 10 s, keyframes stay 2 s apart."""
    source = tmp_path / "sparse.mkv"
    with av.open(str(source), "w", format="matroska") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        for i in range(40):
            frame = av.VideoFrame.from_ndarray(frame_image(i, 160, 96, (30, 90, 200)), format="rgb24")
            frame.pts = 5 * i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    assert keyframe_times(source, tmp_path / "preview.mp4") == pytest.approx([0.0, 2.0, 4.0, 6.0])


def test_preview_of_an_intra_only_source_is_not_all_keyframes(tmp_path):
    """MJPEG's frames all decode as I pictures; the preview's keyframes are x264's, every 2 s."""
    source = write_source(tmp_path / "mjpeg.avi", "mjpeg", "avi", frames=75)
    assert keyframe_times(source, tmp_path / "preview.mp4") == pytest.approx([0.0, 2.0])


def keyframe_times(source: Path, dest: Path) -> list[float]:
    """The keyframes' times in the preview of ``source``."""
    make_preview(source, dest)
    with av.open(str(dest)) as container:
        return [float(p.pts * p.time_base) for p in container.demux(video=0) if p.is_keyframe and p.pts is not None]


def test_a_turned_video_has_its_preview_and_sprites_turned_the_same_way(tmp_path):
    """A phone's portrait video: stored 320x240, turned a quarter counter-clockwise on display (the number's band,
    at the bottom of the stored frame, shows on the right)."""
    source = write_source(tmp_path / "phone.mov", "libx265", "mov", frames=30, options=QUIET_X265, audio="aac", rotation=90)
    assert display_rotation(source) == 90
    dest = tmp_path / "preview.mp4"
    make_preview(source, dest)
    with av.open(str(dest)) as container:
        frame = next(container.decode(video=0))
    assert (frame.rotation, frame.width, frame.height) == (90, 320, 240)  # the pixels as stored, the turn as metadata
    assert read_frame_number(frame.to_ndarray(format="rgb24")) == 0
    sheet = make_sprites(source, tmp_path / "s.jpg", tmp_path / "s.vtt", duration=1.2)
    assert (sheet.tiles, sheet.tile_width, sheet.tile_height) == (2, 68, 90)
    tiles = np.asarray(Image.open(tmp_path / "s.jpg").convert("RGB"))
    for i, t in enumerate(sprite_times(1.2)):  # each tile turned back (clockwise) is the stored frame at its time
        assert read_frame_number(np.rot90(tiles[:, 68 * i : 68 * (i + 1)], -1)) == int(t * FPS)


def test_preview_of_a_broken_file_or_a_photo_raises_and_leaves_nothing(tmp_path, sources):
    folder = tmp_path / "out"
    folder.mkdir()
    broken = [make_corrupt(tmp_path / "noise.mp4"), make_corrupt(tmp_path / "cut.avi", sources["mpeg4.avi"])]
    for source in broken:
        with pytest.raises(PreviewError, match="cannot make a preview"):
            make_preview(source, folder / "preview.mp4")
    assert list(folder.iterdir()) == []
    with pytest.raises(PreviewError):
        make_preview(sources["h264.mp4"], tmp_path / "no-such-folder" / "preview.mp4")
    Image.fromarray(frame_image(3, 320, 240, (10, 200, 10))).save(tmp_path / "photo.jpg")
    photo = probe_media(tmp_path / "photo.jpg")
    assert (photo.container, photo.video_codec, photo.duration, photo.playable) == ("jpeg_pipe", "mjpeg", None, False)
    with pytest.raises(PreviewError, match="still picture"):
        make_preview(tmp_path / "photo.jpg", folder / "preview.mp4")
    assert list(folder.iterdir()) == []


def test_sprite_times_cover_the_video_in_tiles_of_whole_seconds():
    assert sprite_times(2.56) == pytest.approx([0.5, 1.5, 2.28])
    assert sprite_times(100.0) == [i + 0.5 for i in range(100)]
    times = sprite_times(250.0, max_tiles=100)  # 2.5 s a tile, rounded up to 3: 84 tiles
    assert len(times) == 84 and times[0] == 1.5 and times[-1] == (249 + 250) / 2
    assert len(sprite_times(7200.0)) == 100
    for duration in (0.0, -1.0, float("nan")):
        with pytest.raises(PreviewError):
            sprite_times(duration)


CUE = re.compile(r"(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})\n(\S+)#xywh=(\d+),(\d+),(\d+),(\d+)")


def parse_vtt(text: str) -> list[tuple[float, float, str, tuple[int, int, int, int]]]:
    assert text.startswith("WEBVTT\n\n")
    cues = []
    for match in CUE.finditer(text):
        g = match.groups()
        start = int(g[0]) * 3600 + int(g[1]) * 60 + int(g[2]) + int(g[3]) / 1000
        end = int(g[4]) * 3600 + int(g[5]) * 60 + int(g[6]) + int(g[7]) / 1000
        cues.append((start, end, g[8], tuple(int(v) for v in g[9:])))
    assert len(cues) == text.count("-->")
    return cues


def test_sprites_tile_the_frames_at_their_times(camcorder, tmp_path):
    """A 4 s video with its clock not at 0: four tiles (three to a row), each the frame at its cue's middle."""
    sheet_path, vtt_path = tmp_path / "12.jpg", tmp_path / "12.vtt"
    sheet = make_sprites(camcorder, sheet_path, vtt_path, duration=4.0, tile_height=90, columns=3)
    assert (sheet.interval, sheet.tiles, sheet.columns, sheet.tile_width, sheet.tile_height) == (1.0, 4, 3, 120, 90)
    assert sheet.bytes == sheet_path.stat().st_size + vtt_path.stat().st_size
    cues = parse_vtt(vtt_path.read_text())
    image = Image.open(sheet_path)
    assert image.size == (360, 180) and len(cues) == len(sprite_times(4.0))
    assert [c[0] for c in cues] == [0.0, 1.0, 2.0, 3.0] and [c[1] for c in cues] == [1.0, 2.0, 3.0, 4.0]
    tiles = np.asarray(image.convert("RGB"))
    for (start, end, name, (x, y, w, h)), t in zip(cues, sprite_times(4.0)):
        assert start <= t < end and name == "12.jpg" and x + w <= image.width and y + h <= image.height
        assert read_frame_number(tiles[y : y + h, x : x + w]) == int(t * FPS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["12.jpg", "12.vtt"]


def test_sprites_of_a_portrait_video_keep_its_aspect(tmp_path):
    source = write_source(tmp_path / "tall.mp4", "libx264", "mp4", frames=30, size=(96, 160))
    sheet = make_sprites(source, tmp_path / "s.jpg", tmp_path / "s.vtt", duration=1.2)
    assert (sheet.tiles, sheet.columns, sheet.tile_width, sheet.tile_height) == (2, 2, 54, 90)
    assert Image.open(tmp_path / "s.jpg").size == (108, 90)
    assert [c[:2] for c in parse_vtt((tmp_path / "s.vtt").read_text())] == [(0.0, 1.0), (1.0, 1.2)]


def test_sprites_of_a_broken_file_a_photo_or_no_duration_raise(tmp_path, sources):
    Image.fromarray(frame_image(3, 320, 240, (10, 200, 10))).save(tmp_path / "photo.png")
    cases = [(make_corrupt(tmp_path / "noise.mp4"), 2.0), (tmp_path / "photo.png", 1.0), (sources["h264.mp4"], 0.0)]
    for source, duration in cases:
        with pytest.raises(PreviewError):
            make_sprites(source, tmp_path / "s.jpg", tmp_path / "s.vtt", duration=duration)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noise.mp4", "photo.png"]
