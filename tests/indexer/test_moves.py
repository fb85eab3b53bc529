"""A file that moved or was renamed keeps its segments and vectors: matched by fingerprint, only its path (and the
words its name gives) change; nothing is decoded or embedded again."""

from __future__ import annotations

import shutil

import numpy as np

from indexer import IndexReader
from tests.indexer.test_words import build
from tests.videos import make_video


def _segments(reader: IndexReader) -> dict[str, list[int]]:
    return {v.title: [s.segment_id for s in reader.video_segments(v.video_id)] for v in reader.video_records("indexed")}


def test_a_moved_or_renamed_file_keeps_its_segments_and_vectors(tmp_path, _tiny_encoder):
    library = tmp_path / "lib"
    make_video(library / "a" / "walrus.mp4", 14, color=(200, 40, 40))
    make_video(library / "b" / "heron.mp4", 12, color=(40, 200, 40))
    make_video(library / "c" / "kept.mp4", 6, color=(40, 40, 200))
    build(library, tmp_path / "index", _tiny_encoder, None)
    before = IndexReader(tmp_path / "index")
    ids = _segments(before)
    vectors = {i: before.segment_vector(i) for v in ids.values() for i in v}
    before.close()

    (library / "a" / "walrus.mp4").rename(library / "a" / "sea_lion.mp4")  # renamed
    (library / "new").mkdir()
    shutil.move(library / "b" / "heron.mp4", library / "new" / "heron.mp4")  # moved to another folder
    report = build(library, tmp_path / "index", _tiny_encoder, None)
    assert (report.moved, report.indexed, report.segments, report.removed) == (2, 0, 0, 0)
    assert report.unchanged == 1 and "2 file(s) that moved or were renamed" in report.summary()

    after = IndexReader(tmp_path / "index")
    moved = _segments(after)
    assert moved == {"sea_lion.mp4": ids["walrus.mp4"], "heron.mp4": ids["heron.mp4"], "kept.mp4": ids["kept.mp4"]}
    for segment_ids in moved.values():
        for i in segment_ids:
            np.testing.assert_array_equal(after.segment_vector(i), vectors[i])
    paths = {v.title: v.path for v in after.video_records()}
    assert paths["heron.mp4"] == str((library / "new" / "heron.mp4").resolve())
    # Its words follow the new name and folder: the text stage read them again.
    assert [after.video_record(h.video_id).title for h in after.search_texts("sea lion", 5)] == ["sea_lion.mp4"]
    assert after.search_texts("walrus", 5) == []
    assert after.facets().folders == {"a": 1, "c": 1, "new": 1}
    after.close()


def test_a_copy_is_indexed_and_a_changed_file_under_a_new_name_is_embedded_again(tmp_path, _tiny_encoder):
    library = tmp_path / "lib"
    make_video(library / "one.mp4", 6, color=(200, 40, 40))
    make_video(library / "two.mp4", 6, color=(40, 200, 40))
    make_video(library / "twin.mp4", 6, color=(40, 200, 40))
    shutil.copy2(library / "two.mp4", library / "twin.mp4")  # the same bytes and mtime: one fingerprint
    build(library, tmp_path / "index", _tiny_encoder, None)

    shutil.copy2(library / "one.mp4", library / "one_copy.mp4")  # a copy beside its original: a new file
    (library / "two.mp4").unlink()
    (library / "twin.mp4").unlink()
    make_video(library / "two_again.mp4", 8, color=(10, 10, 10))  # another content under a new name
    report = build(library, tmp_path / "index", _tiny_encoder, None)
    assert (report.moved, report.indexed, report.removed) == (0, 2, 2)
    reader = IndexReader(tmp_path / "index")
    assert sorted(_segments(reader)) == ["one.mp4", "one_copy.mp4", "two_again.mp4"]
    reader.close()

    (library / "one_copy.mp4").rename(library / "one_moved.mp4")
    (library / "one.mp4").unlink()  # two vanished files of one fingerprint, one of them turns up again: it moved
    report = build(library, tmp_path / "index", _tiny_encoder, None)
    assert (report.moved, report.indexed, report.removed) == (1, 0, 1)
