"""The read facade: importing it is light, and the catalog is read as plain records (no ORM, no session)."""

import subprocess
import sys

import numpy as np
import pytest

from indexer import VIDEO_FAILED, VIDEO_INDEXED, Manifest, SegmentRecord, VideoRecord, open_index, published_name
from indexer.decoders.base import VideoInfo
from indexer.index_dir.writer import IndexWriter
from indexer.segment import plan_segments


def test_importing_the_facade_loads_no_faiss_torch_or_sqlalchemy():
    code = (
        "import sys, indexer; from indexer import VideoRecord, SegmentRecord; "
        "print(sorted(m for m in ('faiss', 'torch', 'sqlalchemy') if m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


@pytest.fixture()
def index_dir(tmp_path):
    library = tmp_path / "lib"
    library.mkdir()
    (library / "b.mp4").write_bytes(b"b")
    manifest = Manifest(model="m", pretrained="none", weights_fingerprint="w", dim=4, frames=2, segment_seconds=10, preprocess={})
    manifest.library = str(library)
    writer = IndexWriter(tmp_path / "index", manifest)
    stat = (library / "b.mp4").stat()
    vectors = np.eye(4, dtype=np.float32)[:3]
    info = VideoInfo(25.0, 25.0, 64, 48, "h264")
    fingerprint = f"{stat.st_size}:{stat.st_mtime_ns}:h"
    writer.add_video(str(library / "b.mp4"), fingerprint, 1, info, plan_segments(25.0, 10.0), vectors, [b"", b"", b""])
    writer.record_failure(str(library / "a.mp4"), "", 0, "not a video")
    writer.publish()
    return tmp_path / "index"


def test_videos_and_their_segments_are_records(index_dir):
    reader = open_index(index_dir)
    failed, indexed = reader.video_records()  # by path
    assert isinstance(indexed, VideoRecord) and (indexed.status, indexed.segments, indexed.indexed) == (VIDEO_INDEXED, 3, True)
    assert (indexed.title, indexed.duration, indexed.width, indexed.height, indexed.fps) == ("b.mp4", 25.0, 64, 48, 25.0)
    assert (failed.status, failed.error, failed.segments, failed.indexed) == (VIDEO_FAILED, "not a video", 0, False)
    assert reader.video_records(VIDEO_INDEXED) == [indexed] and reader.video_records(VIDEO_FAILED) == [failed]
    assert reader.video_record(indexed.video_id) == indexed and reader.video_record(10**12) is None
    segments = reader.video_segments(indexed.video_id)
    assert [(s.start, s.end) for s in segments] == [(0.0, 10.0), (10.0, 20.0), (20.0, 25.0)]
    assert all(isinstance(s, SegmentRecord) and s.path == indexed.path for s in segments)
    assert reader.segments([segments[1].segment_id]) == {segments[1].segment_id: segments[1]}
    assert reader.video_segments(failed.video_id) == []
    assert published_name(index_dir) == reader.generation.name
    reader.close()


def test_a_record_opens_the_indexed_file_as_the_orm_row_does(index_dir):
    reader = open_index(index_dir, bf16_scan=False)
    record = reader.video_record(reader.video_records(VIDEO_INDEXED)[0].video_id)
    with reader.open_video_file(record) as checked, reader.open_video_file(reader.video(record.video_id)) as again:
        assert checked.name == again.name == "b.mp4" and checked.file.read() == b"b"
    reader.close()
