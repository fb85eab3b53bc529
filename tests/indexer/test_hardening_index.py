"""Hardening of the offline side: symbolic links and file identity, odd index paths, external catalogs named in the
manifest, progress that counts segments (and prints lines when not on a terminal), a file passed as the library."""

import io
import json
import os
import shutil
import uuid

import pytest
from alembic import command
from sqlalchemy import create_engine, make_url, select, text
from sqlalchemy.orm import Session

from indexer import IndexCatalogError, IndexReader, Manifest, current_generation, read_manifest
from indexer.dataset import Example, load_clips
from indexer.index_dir.catalog import VIDEO_FAILED, Video, alembic_config, head_revision, sqlite_url
from indexer.index_dir.reader import index_catalog_revision
from indexer.index_dir.writer import IndexWriter, upgrade_index_catalog
from indexer.pipeline.local import build_index
from indexer.pipeline.options import BuildOptions
from indexer.scan import scan_library
from indexer.segment import plan_segments
from tests.videos import make_video

POSTGRES_URL = os.environ.get("VIDSEEK_TEST_POSTGRES_URL")


def options(library, index_dir, **kw):
    defaults = dict(segments="fixed", frames=2, segment_seconds=10, batch_size=4, workers=1, progress=False)
    return BuildOptions(library, index_dir, **{**defaults, **kw})


def catalogued(index_dir) -> dict[str, Video]:
    reader = IndexReader(index_dir)
    try:
        return {os.path.basename(v.path): v for v in reader.videos()}
    finally:
        reader.close()


@pytest.fixture()
def small_library(tmp_path):
    library = tmp_path / "lib"
    make_video(library / "a.mp4", 1, size=(64, 48), color=(220, 30, 30))
    make_video(library / "b.mp4", 1, size=(64, 48), color=(30, 30, 220))
    return library


# -- point 4: symbolic links, and the server reads only the file that was indexed
def test_links_inside_the_library_are_followed_and_links_out_of_it_are_reported(tmp_path, small_library):
    outside = tmp_path / "elsewhere" / "c.mp4"
    make_video(outside, 1, size=(64, 48))
    (small_library / "sub").mkdir()
    (small_library / "sub" / "link_in.mp4").symlink_to(small_library / "a.mp4")
    (small_library / "link_out.mp4").symlink_to(outside)
    (small_library / "linked_folder").symlink_to(outside.parent, target_is_directory=True)

    files, skipped = scan_library(small_library)
    assert [f.path.name for f in files] == ["a.mp4", "b.mp4", "link_in.mp4"]  # folders behind links are not walked
    assert [(path, "a symbolic link to a file outside the library" in reason) for path, reason in skipped] == [
        (small_library / "link_out.mp4", True)
    ]
    link_in, a = files[2], files[0]
    assert (link_in.device, link_in.inode) == (a.device, a.inode) == (os.stat(a.path).st_dev, os.stat(a.path).st_ino)


def test_reader_opens_only_the_indexed_file_inside_the_library(tmp_path, small_library, _tiny_encoder):
    from indexer import VideoFileError

    index_dir = tmp_path / "index"
    (small_library / "link_in.mp4").symlink_to(small_library / "b.mp4")
    build_index(_tiny_encoder, options(small_library, index_dir))
    videos = catalogued(index_dir)
    assert all(v.device is not None and v.inode is not None for v in videos.values())
    reader = IndexReader(index_dir)
    with reader.open_video_file(videos["link_in.mp4"]) as checked:  # a link within the library is served
        assert checked.path == (small_library / "b.mp4").resolve() and checked.name == "link_in.mp4"
        assert checked.file.read() == (small_library / "b.mp4").read_bytes()

    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (small_library / "a.mp4").unlink()
    (small_library / "a.mp4").symlink_to(secret)  # the /etc/passwd swap
    with pytest.raises(VideoFileError, match="leads out of the library") as refused:
        reader.open_video_file(videos["a.mp4"])
    assert refused.value.video_id == videos["a.mp4"].id

    original = small_library / "b.mp4"
    stat = original.stat()
    replacement = tmp_path / "replacement.mp4"
    replacement.write_bytes(b"\0" * stat.st_size)  # same size and mtime: only the inode tells it apart
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(replacement, original)
    with pytest.raises(VideoFileError, match="another file than the one indexed"):
        reader.open_video_file(videos["b.mp4"])
    reader.close()


def test_catalog_from_before_file_identity_is_upgraded_served_and_filled_in_without_reembedding(
    tmp_path, small_library, _tiny_encoder
):
    from indexer import VideoFileError

    index_dir = tmp_path / "index"
    build_index(_tiny_encoder, options(small_library, index_dir))
    catalog = current_generation(index_dir) / "catalog.db"
    engine = create_engine(sqlite_url(catalog))
    with engine.begin() as connection:  # as the previous release left it
        command.downgrade(alembic_config(connection), "0001")
    engine.dispose()
    assert index_catalog_revision(index_dir) == "0001"
    assert upgrade_index_catalog(index_dir) == ("0001", head_revision())

    videos = catalogued(index_dir)
    assert {(v.device, v.inode) for v in videos.values()} == {(None, None)}
    reader = IndexReader(index_dir)
    with reader.open_video_file(videos["a.mp4"]) as checked:  # size and mtime still match: served
        assert checked.file.read(4) == (small_library / "a.mp4").read_bytes()[:4]
    os.utime(small_library / "b.mp4", ns=(0, 10**18))  # changed since it was indexed
    with pytest.raises(VideoFileError, match="changed since it was indexed"):
        reader.open_video_file(videos["b.mp4"])
    reader.close()

    report = build_index(_tiny_encoder, options(small_library, index_dir))
    assert (report.indexed, report.unchanged) == (1, 1)  # only the touched file is embedded again
    a = catalogued(index_dir)["a.mp4"]
    assert (a.device, a.inode) == (os.stat(small_library / "a.mp4").st_dev, os.stat(small_library / "a.mp4").st_ino)
    assert a.id == videos["a.mp4"].id


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=[pytest.mark.postgres, pytest.mark.skipif(not POSTGRES_URL, reason="set VIDSEEK_TEST_POSTGRES_URL (CI does)")],
        ),
    ]
)
def catalog_url(request, tmp_path):
    """An empty external catalog: a SQLite file, or a PostgreSQL schema of its own (dropped afterwards)."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "catalog.db")
        return
    schema = f"vidseek_identity_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_any_device_and_inode_number_and_sizes_past_2_gib_are_catalogued(tmp_path, catalog_url):
    """st_dev and st_ino are unsigned 64-bit (network and overlay filesystems use the high bit); SQL integers are
    signed: they are stored wrapped, and compared wrapped. PostgreSQL's INTEGER is 32-bit: sizes are BIGINT."""
    from indexer.decoders.base import VideoInfo
    from indexer.index_dir.catalog import int64

    manifest = Manifest(model="m", pretrained="none", weights_fingerprint="w", dim=4, frames=2, segment_seconds=10, preprocess={})
    writer = IndexWriter(tmp_path / "index", manifest, db_url=catalog_url)
    size, device, inode = 5 << 30, 2**64 - 2, 2**63 + 7
    segments = plan_segments(4.0, 10.0)
    info = VideoInfo(4.0, 10.0, 64, 48, "h264")
    writer.add_video("/lib/big.mp4", f"{size}:1:h", size, info, segments, [[1.0, 0, 0, 0]], [b""], device=device, inode=inode)
    writer.publish()
    reader = IndexReader(tmp_path / "index", db_url=catalog_url)
    [video] = reader.videos()
    assert (video.size, video.device, video.inode) == (size, int64(device), int64(inode)) == (size, -2, -(2**63) + 7)
    reader.close()


# -- point 9: an index folder whose path holds URL syntax
def test_index_in_a_folder_named_like_a_url_builds_searches_and_upgrades(tmp_path, small_library, _tiny_encoder):
    index_dir = tmp_path / "a%20b?c#d" / "index"
    report = build_index(_tiny_encoder, options(small_library, index_dir))
    assert report.indexed == 2
    assert (current_generation(index_dir) / "catalog.db").is_file()
    assert not list(tmp_path.glob("a%20b?c#d/index/generations/*/catalog.db?*"))
    reader = IndexReader(index_dir)
    hits, total = reader.search(_tiny_encoder.encode_text(["a red clip"])[0], k=5)
    assert total == 2 and set(reader.segments(i for i, _ in hits)) == {i for i, _ in hits}
    reader.close()
    assert index_catalog_revision(index_dir) == head_revision()
    assert upgrade_index_catalog(index_dir) == (head_revision(), head_revision())
    again = build_index(_tiny_encoder, options(small_library, index_dir))  # incremental: reads the copied catalog
    assert (again.indexed, again.unchanged) == (0, 2)


# -- point 13: an index whose catalog is external says so, and which database
def test_external_catalog_is_named_in_the_manifest_and_asked_for(tmp_path, small_library, _tiny_encoder):
    index_dir = tmp_path / "index"
    db_url = sqlite_url(tmp_path / "shared catalog.db")
    build_index(_tiny_encoder, options(small_library, index_dir, db_url=db_url))
    manifest = read_manifest(index_dir)
    assert manifest.catalog == "external"
    assert manifest.catalog_location == {
        "dialect": "sqlite",
        "host": None,
        "port": None,
        "database": str(tmp_path / "shared catalog.db"),
    }
    # an IndexCatalogError: the server refuses to start with it, instead of saying "no index"
    with pytest.raises(IndexCatalogError, match=r"external sqlite database .*--db-url or set VIDSEEK_DB_URL") as missing:
        IndexReader(index_dir)
    assert (missing.value.dialect, missing.value.database, missing.value.root) == (
        "sqlite",
        str(tmp_path / "shared catalog.db"),
        index_dir,
    )
    IndexReader(index_dir, db_url=db_url).close()


def test_catalog_location_never_records_the_password_and_old_manifests_still_load(tmp_path):
    from indexer import ExternalCatalogError
    from indexer.index_dir.catalog import catalog_location

    location = catalog_location("postgresql+psycopg://vidseek:s3cret@db.example:5433/videos")
    assert location == {"dialect": "postgresql", "host": "db.example", "port": 5433, "database": "videos"}
    assert "s3cret" not in json.dumps(location)
    error = ExternalCatalogError(tmp_path, location)
    assert "an external postgresql database 'videos' on db.example:5433" in str(error)

    old = tmp_path / "manifest.json"  # written before manifests recorded where an external catalog lives
    fields = dict(model="m", pretrained="none", weights_fingerprint="w", dim=4, frames=2, segment_seconds=10.0, preprocess={})
    old.write_text(json.dumps({**fields, "catalog": "external"}))
    manifest = Manifest.read(old)
    assert manifest.catalog_location == {}
    assert "keeps its catalog in an external database: pass its URL" in str(ExternalCatalogError(tmp_path, {}))


# -- point 14: progress counts segments and prints lines when not on a terminal
def test_progress_line_counts_segments_with_rate_eta_and_files():
    from indexer.progress import LineProgress, format_duration, progress_line

    clock = [0.0]
    out = io.StringIO()
    bar = LineProgress(0, "segment", "indexing", interval=30, stream=out, clock=lambda: clock[0])
    bar.total += 480
    bar.set_postfix(files="3/12", failed=0)
    clock[0] = 10.0
    bar.update(30)  # the first result, after 10 s of start-up: before the interval, nothing printed
    assert out.getvalue() == ""
    clock[0] = 40.0
    bar.update(90)  # 90 segments in the 30 s since: 3/s, and 360 to go
    assert out.getvalue() == "indexing: 120/480 segments (25%), 3 segments/s, ETA 2m00s, 3/12 files, 0 failed\n"
    bar.update(360)
    bar.close()
    bar.close()
    assert out.getvalue().splitlines()[-1] == "indexing: 480/480 segments (100%), 12 segments/s, in 40s, 3/12 files, 0 failed"
    assert len(out.getvalue().splitlines()) == 2
    assert progress_line("decoding", 0, 0, "clip", None, {}) == "decoding: 0/0 clips"
    assert [format_duration(s) for s in (0, 44.2, 125, 3600 * 3 + 7 * 60)] == ["0s", "45s", "2m05s", "3h07m"]


def test_build_progress_moves_within_a_long_video_when_stderr_is_not_a_terminal(tmp_path, _tiny_encoder, capsys):
    library = tmp_path / "lib"
    make_video(library / "film.mp4", 25, size=(64, 48))  # 3 segments of 10 s
    make_video(library / "short.mp4", 1, size=(64, 48))
    (library / "broken.mp4").write_bytes(b"\0" * 500)
    build_index(
        _tiny_encoder,
        options(library, tmp_path / "index", chunk_segments=1, batch_size=1, progress=True, progress_seconds=0),
    )
    lines = capsys.readouterr().err.splitlines()
    progress = [line for line in lines if line.startswith("indexing: ")]
    assert any(line.startswith("indexing: 1/") and "segments" in line for line in progress)  # not 0/1 file for 25 s
    assert progress[-1].startswith("indexing: 4/4 segments (100%)") and progress[-1].endswith("3/3 files, 1 failed")


def test_decoding_a_training_set_prints_progress_lines_when_not_on_a_terminal(tmp_path, capsys):
    make_video(tmp_path / "a.mp4", 1, size=(64, 48))
    clips = load_clips([Example(tmp_path / "a.mp4", caption="x")], frames=2, resize=32, progress=True)
    assert len(clips.clips) == 1
    assert capsys.readouterr().err.splitlines()[-1].startswith("decoding: 1/1 clips (100%)")


# -- point 15: a file passed as the library
def test_a_file_given_as_the_library_is_said_to_be_no_folder(small_library, tmp_path):
    with pytest.raises(NotADirectoryError, match=r"must be a folder of videos, but .*a\.mp4 is a file"):
        scan_library(small_library / "a.mp4")
    with pytest.raises(NotADirectoryError, match="library folder not found"):
        scan_library(tmp_path / "nowhere")


def test_failed_link_rows_are_catalogued_with_the_reason(tmp_path, small_library, _tiny_encoder):
    outside = tmp_path / "elsewhere.mp4"
    shutil.copy(small_library / "a.mp4", outside)
    (small_library / "link_out.mp4").symlink_to(outside)
    report = build_index(_tiny_encoder, options(small_library, tmp_path / "index"))
    [(path, reason)] = report.failed
    assert path == str(small_library / "link_out.mp4") and reason.startswith("a symbolic link to a file outside the library")
    engine = create_engine(sqlite_url(current_generation(tmp_path / "index") / "catalog.db"))
    with Session(engine) as session:
        assert session.scalars(select(Video.status).where(Video.path.endswith("link_out.mp4"))).one() == VIDEO_FAILED
    engine.dispose()
