"""/videos serves only files inside the library that are still the ones indexed, HEAD answers like GET, and a
server over an index with an external catalog asks for its URL instead of saying there is no index."""

import os
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.services import VidseekService
from app.settings import Settings
from indexer import IndexCatalogError, IndexReader, open_index
from indexer.index_dir.catalog import sqlite_url
from indexer.pipeline.local import build_index
from indexer.pipeline.options import BuildOptions
from tests.videos import make_video


@pytest.fixture()
def served(tmp_path, _tiny_encoder):
    """A two-file library (one a link to the other inside it), its index and a client; yields (library, ids, client)."""
    library = tmp_path / "lib"
    make_video(library / "a.mp4", 1, size=(64, 48), color=(220, 30, 30))
    make_video(library / "b.mp4", 1, size=(64, 48), color=(30, 30, 220))
    (library / "link.mp4").symlink_to(library / "b.mp4")
    index_dir = tmp_path / "index"
    build_index(_tiny_encoder, BuildOptions(library, index_dir, frames=2, workers=1, progress=False))
    reader = open_index(index_dir)
    ids = {v.title: v.video_id for v in reader.video_records()}
    reader.close()
    settings = Settings(index_dir=index_dir)
    with TestClient(create_app(settings, VidseekService(settings, encoder=_tiny_encoder))) as client:
        yield library, ids, client


def test_a_file_swapped_for_a_link_out_of_the_library_is_not_served(served, tmp_path):
    library, ids, client = served
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    assert client.get(f"/videos/{ids['a.mp4']}").status_code == 200
    (library / "a.mp4").unlink()
    (library / "a.mp4").symlink_to(secret)
    r = client.get(f"/videos/{ids['a.mp4']}")
    assert r.status_code == 404 and "root:x" not in r.text
    assert "leads out of the library" in r.json()["detail"]


def test_a_file_replaced_by_another_is_not_served(served, tmp_path):
    library, ids, client = served
    stat = (library / "a.mp4").stat()
    other = tmp_path / "other.mp4"
    other.write_bytes(b"x" * stat.st_size)  # same size and mtime: another inode
    os.utime(other, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(other, library / "a.mp4")
    r = client.get(f"/videos/{ids['a.mp4']}")
    assert r.status_code == 404 and "another file than the one indexed" in r.json()["detail"]

    (library / "b.mp4").write_bytes((library / "b.mp4").read_bytes() + b"\0")  # the same inode, changed
    r = client.get(f"/videos/{ids['b.mp4']}")
    assert r.status_code == 404 and "changed since it was indexed" in r.json()["detail"]


def test_a_link_inside_the_library_is_served_as_its_target(served):
    library, ids, client = served
    r = client.get(f"/videos/{ids['link.mp4']}")
    assert r.status_code == 200 and r.content == (library / "b.mp4").read_bytes()
    assert r.headers["content-type"] == "video/mp4" and 'filename="link.mp4"' in r.headers["content-disposition"]


def test_what_is_sent_is_the_file_that_was_checked(served, monkeypatch):
    """A path swapped between the check and the transfer changes nothing: the checked descriptor is sent."""
    library, ids, client = served
    originals = {name: (library / name).read_bytes() for name in ("a.mp4", "b.mp4")}
    check = IndexReader.open_video_file

    def check_then_swap(self, video):
        checked = check(self, video)
        Path(video.path).unlink()
        Path(video.path).write_bytes(b"swapped after the check")
        return checked

    monkeypatch.setattr(IndexReader, "open_video_file", check_then_swap)
    assert client.get(f"/videos/{ids['a.mp4']}").content == originals["a.mp4"]
    part = client.get(f"/videos/{ids['b.mp4']}", headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.content == originals["b.mp4"][:10]
    assert (library / "b.mp4").read_bytes() == b"swapped after the check"


def test_head_answers_like_get_without_a_body(served):
    library, ids, client = served
    size = (library / "a.mp4").stat().st_size
    get = client.get(f"/videos/{ids['a.mp4']}")
    head = client.head(f"/videos/{ids['a.mp4']}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(size) and head.headers["etag"] == get.headers["etag"]
    assert head.headers["accept-ranges"] == "bytes" and head.headers["content-type"] == "video/mp4"
    ranged = client.head(f"/videos/{ids['a.mp4']}", headers={"Range": "bytes=0-9"})
    assert ranged.status_code == 206 and ranged.headers["content-length"] == "10" and ranged.content == b""
    assert client.head("/videos/999999").status_code == 404

    segment_id = client.get("/search", params={"q": "a clip", "k": 1}).json()["results"][0]["segment_id"]
    poster = client.head(f"/thumbnails/{segment_id}.jpg")
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/jpeg" and poster.content == b""
    assert client.head("/thumbnails/999999.jpg").status_code == 404


def test_openapi_documents_head_without_duplicate_operation_ids(served):
    _, _, client = served
    schema = client.get("/openapi.json").json()
    assert {"get", "head"} <= set(schema["paths"]["/videos/{video_id}"])
    assert {"get", "head"} <= set(schema["paths"]["/thumbnails/{segment_id}.jpg"])
    ids = Counter(op["operationId"] for path in schema["paths"].values() for op in path.values())
    assert [i for i, n in ids.items() if n > 1] == []


def test_server_over_an_external_catalog_asks_for_its_url(tmp_path, _tiny_encoder):
    library = tmp_path / "lib"
    make_video(library / "a.mp4", 1, size=(64, 48))
    index_dir = tmp_path / "index"
    db_url = sqlite_url(tmp_path / "catalog.db")
    build_index(_tiny_encoder, BuildOptions(library, index_dir, frames=2, workers=1, progress=False, db_url=db_url))
    with pytest.raises(IndexCatalogError, match=r"external sqlite database .*pass its URL with --db-url or set VIDSEEK_DB_URL"):
        VidseekService(Settings(index_dir=index_dir), encoder=_tiny_encoder)
    service = VidseekService(Settings(index_dir=index_dir, db_url=db_url), encoder=_tiny_encoder)
    assert service.require_reader().count == 1


def test_classifying_an_indexed_video_reads_only_the_file_that_was_indexed(served, tmp_path):
    """POST /classify {video_id} decodes the catalogued file under the same check as /videos."""
    library, ids, client = served
    body = {"video_id": ids["a.mp4"], "labels": ["red", "blue"]}
    assert client.post("/classify", json=body).status_code == 200
    outside = tmp_path / "outside.mp4"
    make_video(outside, 1, size=(64, 48), color=(30, 220, 30))
    (library / "a.mp4").unlink()
    (library / "a.mp4").symlink_to(outside)
    r = client.post("/classify", json=body)
    assert r.status_code == 404 and "leads out of the library" in r.json()["detail"]
