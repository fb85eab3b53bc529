"""Disk full, an unwritable index dir, a locked catalog: a clear error, and the previous index intact."""

import errno
import shutil
import sqlite3

import faiss
import pytest

from indexer.errors import IndexWriteError
from indexer.index_dir.layout import current_generation
from indexer.index_dir.reader import IndexReader
from indexer.pipeline.local import build_index
from indexer.pipeline.options import BuildOptions
from tests.videos import make_video


def options(library, index_dir, **kw):
    return BuildOptions(library, index_dir, frames=4, segments="fixed", workers=1, progress=False, **kw)


@pytest.fixture()
def published(tmp_path, built_index):
    index_dir = tmp_path / "index"
    shutil.copytree(built_index, index_dir)
    library = tmp_path / "lib"
    make_video(library / "new.mp4", 2)
    return library, index_dir, current_generation(index_dir)


def assert_intact(index_dir, generation):
    assert current_generation(index_dir) == generation
    assert IndexReader(index_dir).count == 6
    assert not list((index_dir / "generations").glob(".staging-*"))


def test_disk_full_while_publishing(published, _tiny_encoder, monkeypatch):
    library, index_dir, generation = published

    def no_space(index, path):
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(faiss, "write_index", no_space)
    with pytest.raises(IndexWriteError, match="No space left on device.*previously published index is unchanged"):
        build_index(_tiny_encoder, options(library, index_dir))
    monkeypatch.undo()
    assert_intact(index_dir, generation)


def test_unwritable_index_dir(tmp_path, _tiny_encoder):
    library = tmp_path / "lib"
    make_video(library / "a.mp4", 1)
    blocker = tmp_path / "file"
    blocker.write_text("a file where the index dir should be")
    with pytest.raises(IndexWriteError, match="cannot open the index"):
        build_index(_tiny_encoder, options(library, blocker / "index"))


def test_locked_catalog(published, tmp_path, _tiny_encoder):
    library, index_dir, _ = published
    url_path = tmp_path / "catalog.db"
    build_index(_tiny_encoder, options(library, tmp_path / "ext", db_url=f"sqlite:///{url_path}"))
    generation = current_generation(tmp_path / "ext")
    make_video(library / "more.mp4", 1)
    holder = sqlite3.connect(url_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the catalog
    try:
        with pytest.raises(IndexWriteError, match="locked"):
            build_index(_tiny_encoder, options(library, tmp_path / "ext", db_url=f"sqlite:///{url_path}"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert current_generation(tmp_path / "ext") == generation
    assert IndexReader(tmp_path / "ext", db_url=f"sqlite:///{url_path}").count == 1
