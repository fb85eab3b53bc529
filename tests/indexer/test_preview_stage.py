"""The build's preview stage (indexer/pipeline/previews.py): probed media recorded in the catalog, a preview only for
a video the browser cannot play (auto), for all (all) or none (off), sprite sheets for every video and none for a
photo, nothing made twice, a missing preview made again, an index from before the stage gets its previews without
re-embedding, a preview that cannot be made recorded with its reason, and a deleted video's files removed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from indexer.index_dir.catalog import Video
from indexer.index_dir.layout import MANIFEST, current_generation, preview_path, sprite_paths
from indexer.index_dir.manifest import Manifest
from indexer.index_dir.reader import open_index
from indexer.index_dir.writer import IndexWriter
from indexer.pipeline.local import build_index
from indexer.pipeline.options import BuildOptions
from indexer.previews import probe_media
from tests.formats import write_sample

NAMES = ("h264.mp4", "mpeg4.avi", "photo.jpg")  # library order: ids 1, 2, 3 in a fresh index


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("media")
    for name in NAMES:
        write_sample(folder, name, seconds=3.0)
    return folder


def build(encoder, library: Path, index_dir: Path, **options):
    return build_index(encoder, BuildOptions(library, index_dir, workers=2, progress=False, **options))


def rows(index_dir: Path) -> dict[str, Video]:
    reader = open_index(index_dir)
    try:
        return {Path(v.path).name: reader.video(v.id) for v in reader.videos()}  # with their segments
    finally:
        reader.close()


def test_auto_previews_only_what_the_browser_cannot_play(tiny_encoder, media, tmp_path):
    report = build(tiny_encoder, media, tmp_path / "index")
    assert report.previews == 1 and not report.preview_failed
    videos = rows(tmp_path / "index")
    mp4, avi, photo = videos["h264.mp4"], videos["mpeg4.avi"], videos["photo.jpg"]
    assert (mp4.container, mp4.codec, mp4.playable) == ("mov,mp4,m4a,3gp,3g2,mj2", "h264", True)
    assert (avi.container, avi.codec, avi.playable) == ("avi", "mpeg4", False)
    assert mp4.preview_bytes is None and not preview_path(tmp_path / "index", mp4.id).exists()
    preview = preview_path(tmp_path / "index", avi.id)
    assert avi.preview_bytes == preview.stat().st_size > 0
    made = probe_media(preview)
    assert made.playable and made.video_codec == "h264" and made.height <= 360
    assert abs(made.duration - 3.0) < 0.1
    for video in (mp4, avi):  # every video gets a sprite sheet and its track
        sheet, track = sprite_paths(tmp_path / "index", video.id)
        assert video.sprite_bytes == sheet.stat().st_size + track.stat().st_size
        assert track.read_text().startswith("WEBVTT") and f"{sheet.name}#xywh=" in track.read_text()
    assert photo.kind == "photo" and photo.preview_bytes is None and photo.sprite_bytes is None
    assert photo.playable is None and not sprite_paths(tmp_path / "index", photo.id)[0].exists()
    assert "made 1 browser preview(s)" in report.summary()

    again = build(tiny_encoder, media, tmp_path / "index")  # nothing new: nothing probed or made
    assert (again.indexed, again.previews, again.preview_seconds) == (0, 0, 0.0)

    preview.unlink()  # lost by hand: the next build makes it again, without re-embedding the video
    again = build(tiny_encoder, media, tmp_path / "index")
    assert (again.indexed, again.previews) == (0, 1) and preview.is_file()


def test_all_and_off(tiny_encoder, media, tmp_path):
    assert build(tiny_encoder, media, tmp_path / "off", previews="off").previews == 0
    videos = rows(tmp_path / "off")
    assert all(v.playable is None and v.preview_bytes is None and v.sprite_bytes is None for v in videos.values())
    assert not any((tmp_path / "off" / "previews").iterdir())
    # Switching an existing index from off to all needs no --rebuild: the vectors do not depend on it.
    report = build(tiny_encoder, media, tmp_path / "off", previews="all")
    assert (report.indexed, report.previews) == (0, 2)
    videos = rows(tmp_path / "off")
    assert videos["h264.mp4"].preview_bytes and videos["mpeg4.avi"].preview_bytes
    with pytest.raises(ValueError, match="previews must be one of auto, all, off"):
        build(tiny_encoder, media, tmp_path / "bad", previews="some")


def test_an_index_from_before_the_stage_gets_previews_without_re_embedding(tiny_encoder, media, tmp_path):
    index_dir = tmp_path / "index"
    build(tiny_encoder, media, index_dir, previews="off")
    before = {name: [s.id for s in v.segments] for name, v in rows(index_dir).items()}
    report = build(tiny_encoder, media, index_dir)
    assert (report.indexed, report.unchanged, report.previews) == (0, 3, 1)
    after = rows(index_dir)
    assert {name: [s.id for s in v.segments] for name, v in after.items()} == before
    assert after["mpeg4.avi"].preview_bytes and after["h264.mp4"].sprite_bytes


def test_a_preview_that_cannot_be_made_is_reported_and_the_video_stays(tiny_encoder, media, tmp_path):
    index_dir = tmp_path / "index"
    (index_dir / "previews" / "2.mp4").mkdir(parents=True)  # mpeg4.avi is video 2: its preview cannot be moved there
    report = build(tiny_encoder, media, index_dir)
    assert report.indexed == 3 and not report.failed
    [(path, reason)] = report.preview_failed
    assert Path(path).name == "mpeg4.avi" and "cannot make a preview" in reason
    assert "no preview: " in report.summary()
    avi = rows(index_dir)["mpeg4.avi"]
    assert avi.status == "indexed" and avi.preview_bytes is None and avi.preview_error == reason
    assert build(tiny_encoder, media, index_dir).preview_failed == []  # not retried until the file changes


def test_a_deleted_video_takes_its_previews_along(tiny_encoder, media, tmp_path):
    library = tmp_path / "library"
    library.mkdir()
    for name in NAMES:
        (library / name).write_bytes((media / name).read_bytes())
    index_dir = tmp_path / "index"
    build(tiny_encoder, library, index_dir)
    avi = rows(index_dir)["mpeg4.avi"]
    files = [preview_path(index_dir, avi.id), *sprite_paths(index_dir, avi.id)]
    assert all(f.is_file() for f in files)
    (library / "mpeg4.avi").unlink()
    assert build(tiny_encoder, library, index_dir).removed == 1
    assert not any(f.exists() for f in files)


def test_rows_probed_as_unknown_are_probed_again(tiny_encoder, media, tmp_path):
    """A row whose probe is missing (as after the 0003 migration) is probed on the next build."""
    index_dir = tmp_path / "index"
    build(tiny_encoder, media, index_dir)
    writer = IndexWriter(index_dir, Manifest.read(published_manifest(index_dir)))
    writer.session.execute(update(Video).values(playable=None, container=None, codec=None))
    writer.publish()
    report = build(tiny_encoder, media, index_dir)
    assert report.indexed == 0 and report.previews == 0  # the preview exists: only the probe was missing
    assert rows(index_dir)["mpeg4.avi"].codec == "mpeg4"


def test_a_crashed_preview_worker_costs_one_preview_and_the_stage_goes_on(tiny_encoder, tmp_path):
    """A preview worker killed mid-task (a decoder crash, the OOM killer): its video is recorded as crashed, the other
    one in flight is made on a new pool, the build is not stopped."""
    import os
    import signal
    import threading
    import time

    from indexer.pipeline.options import BuildReport
    from indexer.pipeline.previews import CRASHED, PreviewRunner, work_for

    library, index_dir = tmp_path / "library", tmp_path / "index"
    library.mkdir()
    for name in ("mpeg4.avi", "mpeg2.mpg"):
        write_sample(library, name, seconds=40.0, size=(640, 360))  # a few seconds of transcoding each
    build(tiny_encoder, library, index_dir, previews="off")
    writer = IndexWriter(index_dir, Manifest.read(published_manifest(index_dir)))
    videos = {v.id: v for v in writer.indexed_videos()}
    options = BuildOptions(library, index_dir, workers=2, progress=False)
    report = BuildReport()
    runner = PreviewRunner(writer, options, report, videos, "auto")
    todo = [work_for(v, index_dir, "auto") for v in videos.values()]
    thread = threading.Thread(target=runner.run, args=(todo,))
    thread.start()
    deadline = time.monotonic() + 60
    while not (runner.pool.started == 2 and any(f.running() for f in list(runner.in_flight))):
        assert time.monotonic() < deadline, "the preview workers never started"
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(next(pid for pid in runner.pool.pids if pid), signal.SIGKILL)
    thread.join(120)
    assert not thread.is_alive()
    writer.publish()
    assert [reason for _, reason in report.preview_failed] == [CRASHED]
    assert report.previews == 1  # the other video's preview was made after all
    made = [v for v in rows(index_dir).values() if v.preview_bytes]
    assert len(made) == 1 and preview_path(index_dir, made[0].id).is_file()


def published_manifest(index_dir: Path) -> Path:
    return current_generation(index_dir) / MANIFEST
