"""Every format FFmpeg reads is a candidate by name (scan), and what a candidate is comes from its content: text and
media without a video stream are skipped as no video, broken videos are reported as failed, and a build over a mixed
folder indexes every video and photo."""

import io
import os
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from indexer.clips import open_video, probe_video
from indexer.decoders import looks_like_text
from indexer.decoders.photo import register_heif
from indexer.errors import DecodeError, NotMediaError
from indexer.index_dir.reader import open_index
from indexer.index_dir.records import PHOTO_KIND, VIDEO_KIND
from indexer.index_dir.writer import IndexWriter
from indexer.pipeline import plan
from indexer.pipeline.commit import Committer
from indexer.pipeline.local import build_index
from indexer.pipeline.options import BuildOptions, BuildReport, manifest_for
from indexer.pipeline.plan import VideoJob
from indexer.scan import ALL_FILES, PHOTO_EXTENSIONS, VIDEO_EXTENSIONS, LibraryFile, parse_extensions, scan_library
from indexer.segmenters import SegmentRule
from tests.videos import make_corrupt, make_video

TYPESCRIPT = "export function add(a: number, b: number): number {\n  return a + b;\n}\n" * 8


def touch(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"\x00 content does not matter to the scan")


def make_audio(path: Path, codec: str = "aac", cover: bytes | None = None) -> Path:
    """An audio-only file (a second of silence), with ``cover`` (a JPEG) as its artwork when given."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=44100)
        if cover is not None:
            art = container.add_stream("mjpeg", rate=1)
            art.width = art.height = 64
            art.pix_fmt = "yuvj420p"
            art.disposition = av.stream.Disposition.attached_pic
            packet = av.Packet(cover)
            packet.stream, packet.pts, packet.dts = art, 0, 0
            container.mux(packet)
        for i in range(44):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 44100, i * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def jpeg(size=(64, 64), color=(200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    return buffer.getvalue()


# -- the scan: candidates by name


def test_the_default_list_finds_the_common_containers_and_photos(tmp_path):
    videos = ["a.avi", "b.mpg", "c.mkv", "d.mts", "e.wmv", "f.flv", "g.3gp", "h.vob", "i.m2ts", "j.MP4", "k.webm", "l.ts"]
    photos = ["p.jpg", "q.PNG", "r.webp", "s.jpeg"]
    others = ["song.mp3", "notes.txt", "anim.gif", "clip.mp4.part", "noext", ".hidden.mp4", ".cache/x.mp4"]
    touch(tmp_path, *videos, *photos, *others)
    files, unreadable = scan_library(tmp_path)
    assert unreadable == []
    assert sorted(f.path.name for f in files) == sorted(videos + photos)
    kinds = {f.path.name: f.kind for f in files}
    assert {name for name, kind in kinds.items() if kind == PHOTO_KIND} == set(photos)
    assert all(kinds[name] == VIDEO_KIND for name in videos)
    assert all(f.named_as_media for f in files)
    assert {".mkv", ".avi", ".mts", ".m2ts", ".vob", ".mxf", ".y4m"} <= VIDEO_EXTENSIONS
    assert not {".gif", ".mp3", ".m4a", ".wav"} & VIDEO_EXTENSIONS  # audio-only containers and GIFs are not videos


def test_photos_off_leaves_photos_out(tmp_path):
    touch(tmp_path, "a.mkv", "p.jpg", "q.png")
    files, _ = scan_library(tmp_path, photos=False)
    assert [f.path.name for f in files] == ["a.mkv"]
    files, _ = scan_library(tmp_path, ALL_FILES, photos=False)
    assert [f.path.name for f in files] == ["a.mkv"]


def test_extensions_given_are_the_endings_scanned(tmp_path):
    touch(tmp_path, "a.mkv", "b.AVI", "c.mp4", "p.jpg", "x.foo")
    files, _ = scan_library(tmp_path, frozenset({"MKV", ".avi", "foo", "jpg"}))
    assert [(f.path.name, f.kind) for f in files] == [
        ("a.mkv", "video"),
        ("b.AVI", "video"),
        ("p.jpg", "photo"),
        ("x.foo", "video"),
    ]
    assert all(f.named_as_media for f in files)  # named by the user: a broken one is a failed video


def test_all_files_makes_every_visible_regular_file_a_candidate(tmp_path):
    touch(tmp_path, "a.avi", "p.jpg", "notes.txt", "noext", "sub/data.bin", ".hidden", ".git/config")
    os.mkfifo(tmp_path / "pipe")
    files, unreadable = scan_library(tmp_path, ALL_FILES)
    assert [f.path.name for f in files] == ["a.avi", "noext", "notes.txt", "p.jpg", "data.bin"]
    named = {f.path.name: (f.named_as_media, f.kind) for f in files}
    assert named == {
        "a.avi": (True, "video"),
        "p.jpg": (True, "photo"),
        "notes.txt": (False, "video"),  # probing decides: here, text, skipped as no video
        "noext": (False, "video"),
        "data.bin": (False, "video"),
    }
    assert unreadable == [(tmp_path / "pipe", "not a regular file")]  # as before: a FIFO would block its reader


def test_an_index_dir_inside_the_library_is_not_scanned(tmp_path):
    touch(tmp_path, "a.mkv", "vidseek-index/thumbs/1.jpg", "vidseek-index/previews/1.mp4", "vidseek-indexes/b.mkv")
    files, _ = scan_library(tmp_path, exclude=[tmp_path / "vidseek-index"])
    assert [f.path.name for f in files] == ["a.mkv", "b.mkv"]


def test_parse_extensions():
    assert parse_extensions("mkv, .AVI") == frozenset({".mkv", ".avi"})
    assert parse_extensions("mts,,m2ts ,") == frozenset({".mts", ".m2ts"})
    assert parse_extensions("*") is ALL_FILES and parse_extensions(" All ") is ALL_FILES
    assert parse_extensions("mkv,*") is ALL_FILES
    for empty in ("", " , ,"):
        with pytest.raises(ValueError, match="no file extensions given"):
            parse_extensions(empty)
    with pytest.raises(ValueError, match=r"not a file extension: \.tar\.gz, \.vid eo"):
        parse_extensions("mkv,.tar.gz,vid eo")


def test_heic_is_a_photo_only_with_pillow_heif(tmp_path, monkeypatch):
    touch(tmp_path, "a.heic", "b.HEIF", "c.jpg")
    files, _ = scan_library(tmp_path)
    if ".heic" in PHOTO_EXTENSIONS:  # pillow_heif is installed here: its opener was registered
        assert sorted(f.path.name for f in files) == ["a.heic", "b.HEIF", "c.jpg"]
    else:
        assert [f.path.name for f in files] == ["c.jpg"]
    registered = []
    fake = type(sys)("pillow_heif")
    fake.register_heif_opener = lambda: registered.append(True)
    monkeypatch.setitem(sys.modules, "pillow_heif", fake)
    assert register_heif() == frozenset({".heic", ".heif"}) and registered == [True]
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # import pillow_heif fails, as where it is not installed
    assert register_heif() == frozenset()


# -- what a candidate is: its content


def test_looks_like_text():
    assert looks_like_text(TYPESCRIPT.encode())
    assert looks_like_text("Grüße, 日本語 — subtitles\r\n".encode() * 20)
    assert looks_like_text(bytes([0xC9, 0xCD, 0xBB, 0x0D, 0x0A, 0x1B]) + b"[1;33m ANSI art " * 40)  # an .nfo in CP437
    assert looks_like_text(b"#EXTM3U\n#EXTINF:10,\n/elsewhere/clip.ts\n")  # a playlist is never handed to FFmpeg
    assert not looks_like_text(b"")
    assert not looks_like_text(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert not looks_like_text(b"printable, but one NUL\x00" * 10)
    assert not looks_like_text(b"YUV4MPEG2 W64 H48 F25:1 Ip A1:1 C420jpeg\nFRAME\n" + b"\x80" * 4000)  # raw grey pixels
    assert not looks_like_text(b"text \x01\x02\x03\x04\x05\x06\x07 with control bytes" * 20)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("media")
    make_video(folder / "mpeg4.avi", 2, codec="mpeg4", color=(200, 40, 40))
    make_video(folder / "mpeg2.mpg", 2, codec="mpeg2video", color=(40, 200, 40))
    make_video(folder / "hevc.mkv", 2, codec="libx265", color=(40, 40, 200))
    make_video(folder / "h264.mts", 2, codec="libx264", color=(200, 200, 40))
    Image.new("RGB", (120, 80), (30, 160, 160)).save(folder / "photo.jpg", quality=92)
    Image.new("RGB", (90, 150), (160, 30, 160)).save(folder / "photo.png")
    (folder / "notes.ts").write_text(TYPESCRIPT)
    make_audio(folder / "audio_only.mp4")
    (folder / "empty.mp4").write_bytes(b"")
    make_corrupt(folder / "random.avi")
    return folder


def test_probing_tells_no_video_from_a_broken_one(media, tmp_path):
    for name in ("mpeg4.avi", "mpeg2.mpg", "hevc.mkv", "h264.mts"):
        info = probe_video("pyav", str(media / name))
        assert info.duration == pytest.approx(2.0, abs=0.25) and not info.still, name
    (tmp_path / "readme.nfo").write_text("Release notes\n" * 30)  # FFmpeg's tty demuxer would read this as video
    make_audio(tmp_path / "song_with_cover.mp4", cover=jpeg())  # its artwork is a one-frame "video" stream
    for path in (media / "notes.ts", media / "audio_only.mp4", tmp_path / "readme.nfo", tmp_path / "song_with_cover.mp4"):
        with pytest.raises(NotMediaError):
            open_video("pyav", str(path), SegmentRule(), 8, 4, 224)
    with pytest.raises(DecodeError, match="empty") as empty:
        open_video("pyav", str(media / "empty.mp4"), SegmentRule(), 8, 4, 224)
    with pytest.raises(DecodeError, match="not a readable media file") as garbage:
        open_video("pyav", str(media / "random.avi"), SegmentRule(), 8, 4, 224)
    assert not isinstance(empty.value, NotMediaError) and not isinstance(garbage.value, NotMediaError)
    # A candidate only because every file is (ALL_FILES): what FFmpeg cannot identify at all is no video.
    for path in (media / "random.avi", media / "empty.mp4"):
        with pytest.raises(NotMediaError):
            probe_video("pyav", str(path), named_as_media=False)
    assert probe_video("pyav", str(media / "hevc.mkv"), named_as_media=False).codec == "hevc"


def build_options(library: Path, index_dir: Path, **kw) -> BuildOptions:
    defaults = dict(frames=4, segments="fixed", segment_seconds=10, batch_size=4, workers=2, progress=False)
    return BuildOptions(library, index_dir, **{**defaults, **kw})


def test_a_build_indexes_every_video_and_photo_and_skips_what_is_no_video(media, tmp_path, _tiny_encoder):
    report = build_index(_tiny_encoder, build_options(media, tmp_path / "index"))
    failed = {Path(path).name: reason for path, reason in report.failed}
    assert sorted(failed) == ["empty.mp4", "random.avi"]
    assert "empty" in failed["empty.mp4"] and "not a readable media file" in failed["random.avi"]
    assert (report.indexed, report.segments) == (6, 6)
    reader = open_index(tmp_path / "index")
    try:
        rows = {Path(v.path).name: v for v in reader.videos()}
        assert sorted(rows) == [
            "empty.mp4",
            "h264.mts",
            "hevc.mkv",
            "mpeg2.mpg",
            "mpeg4.avi",
            "photo.jpg",
            "photo.png",
            "random.avi",
        ]
        indexed = {name: v for name, v in rows.items() if v.status == "indexed"}
        assert {name: v.kind for name, v in indexed.items()} == {
            "h264.mts": "video",
            "hevc.mkv": "video",
            "mpeg2.mpg": "video",
            "mpeg4.avi": "video",
            "photo.jpg": "photo",
            "photo.png": "photo",
        }
        for name, v in indexed.items():
            segments = [(s.start, s.end) for s in reader.video(v.id).segments]
            if v.kind == "photo":
                assert segments == [(0.0, 0.0)] and (v.duration, v.fps) == (0.0, 0.0), name
            else:
                assert len(segments) == 1 and segments[0][1] == pytest.approx(2.0, abs=0.25), name
        assert (rows["photo.jpg"].width, rows["photo.jpg"].height) == (120, 80)
        assert reader.count == 6
    finally:
        reader.close()
    # Files that are no video are not catalogued: the next build probes them again, and changes nothing.
    again = build_index(_tiny_encoder, build_options(media, tmp_path / "index"))
    assert (again.indexed, again.unchanged, again.failed) == (0, 8, [])


def test_the_committer_passes_over_what_is_no_video_and_counts_it(tmp_path, _tiny_encoder):
    options = build_options(tmp_path / "lib", tmp_path / "index")
    writer = IndexWriter(options.index_dir, manifest_for(_tiny_encoder, options))
    text, broken = tmp_path / "lib" / "notes.ts", tmp_path / "lib" / "broken.avi"
    jobs = [VideoJob(0, LibraryFile(text, 10, 1, "10:1:a")), VideoJob(1, LibraryFile(broken, 20, 1, "20:1:b"))]
    plan.skip(jobs[0], "not a video: the file holds text")
    plan.fail(jobs[1], "not a readable media file: Invalid data found when processing input")
    plan.skip(jobs[1], "a later reason changes nothing")
    assert all(job.done for job in jobs) and not jobs[0].current(jobs[0].epoch)
    report = BuildReport()
    committer = Committer(jobs, writer, report, options, None)
    try:
        committer.commit_ready()
        assert committer.finished and committer.not_media == 1
        assert report.failed == [(str(broken), "not a readable media file: Invalid data found when processing input")]
        assert list(writer.known_videos()) == [str(broken)]  # the text file is not catalogued at all
    finally:
        writer.abort()
