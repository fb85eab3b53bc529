"""A live server picks up a newly published index without a restart, and refuses one made with another model."""

import shutil

from app.services import VidseekService
from app.settings import Settings
from indexer.pipeline.local import build_index
from indexer.pipeline.options import BuildOptions
from models import load_encoder
from tests.videos import make_video


def test_service_switches_to_a_new_generation(tmp_path, built_index, library, _tiny_encoder):
    index_dir = tmp_path / "index"
    shutil.copytree(built_index, index_dir)
    service = VidseekService(Settings(index_dir=index_dir, reload_interval_s=0), encoder=_tiny_encoder)
    before = service.reader
    assert before.count == 6
    extra = tmp_path / "lib"
    shutil.copytree(library, extra)
    make_video(extra / "new.mp4", 2, color=(1, 2, 3))
    build_index(
        _tiny_encoder, BuildOptions(extra, index_dir, frames=4, segments="fixed", batch_size=4, workers=1, progress=False)
    )
    hits, total = service.search_text("anything", k=10)
    assert total == 7 and service.reader is not before
    assert "new.mp4" in {h.segment.title for h in hits}


def test_service_keeps_serving_when_the_new_index_has_another_model(tmp_path, built_index, _tiny_encoder):
    index_dir = tmp_path / "index"
    shutil.copytree(built_index, index_dir)
    service = VidseekService(Settings(index_dir=index_dir, reload_interval_s=0), encoder=_tiny_encoder)
    other = load_encoder("vidseek-tiny", "none", "cpu")
    other.spec = other.spec.__class__("vidseek-tiny", "/elsewhere.pt", "sha256:other")
    lib = tmp_path / "lib"
    make_video(lib / "x.mp4", 2)
    build_index(other, BuildOptions(lib, index_dir, frames=4, workers=1, progress=False, rebuild=True))
    hits, total = service.search_text("anything", k=3)
    assert total == 6 and len(hits) == 3  # still the old generation


def test_service_keeps_serving_when_the_new_catalog_is_at_another_revision(tmp_path, built_index, library, _tiny_encoder):
    import sqlite3

    from indexer import IndexCatalogError, current_generation

    index_dir = tmp_path / "index"
    shutil.copytree(built_index, index_dir)
    service = VidseekService(Settings(index_dir=index_dir, reload_interval_s=0), encoder=_tiny_encoder)
    extra = tmp_path / "lib"
    shutil.copytree(library, extra)
    make_video(extra / "new.mp4", 2, color=(1, 2, 3))
    build_index(
        _tiny_encoder, BuildOptions(extra, index_dir, frames=4, segments="fixed", batch_size=4, workers=1, progress=False)
    )
    with sqlite3.connect(current_generation(index_dir) / "catalog.db") as db:  # as if a newer vidseek wrote it
        db.execute("UPDATE alembic_version SET version_num = 'f00d_from_the_future'")
    hits, total = service.search_text("anything", k=10)
    assert total == 6 and "new.mp4" not in {h.segment.title for h in hits}  # still the old generation
    try:
        VidseekService(Settings(index_dir=index_dir), encoder=_tiny_encoder)  # a fresh server says why, at start-up
    except IndexCatalogError as exc:
        assert "f00d_from_the_future" in str(exc)
    else:
        raise AssertionError("a server started on a catalog at an unknown revision must refuse it")
