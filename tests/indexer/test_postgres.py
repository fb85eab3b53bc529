"""The catalog on a real PostgreSQL server, through the same SQLAlchemy code as SQLite.

Needs VIDSEEK_TEST_POSTGRES_URL (CI starts Debian's PostgreSQL on loopback and sets it).
"""

import os

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.services import VidseekService
from app.settings import Settings
from indexer import IndexReader, read_manifest
from indexer.index_dir.catalog import Base, connect
from indexer.pipeline.local import build_index
from indexer.pipeline.options import BuildOptions
from tests.videos import make_video

URL = os.environ.get("VIDSEEK_TEST_POSTGRES_URL")
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not URL, reason="set VIDSEEK_TEST_POSTGRES_URL to a PostgreSQL database (CI does)"),
]


@pytest.fixture()
def db_url():
    engine = connect(URL, readonly=True)
    Base.metadata.drop_all(engine)
    engine.dispose()
    return URL


def test_index_search_and_update_on_postgres(tmp_path, db_url, _tiny_encoder):
    library = tmp_path / "lib"
    make_video(library / "a.mp4", 2, color=(250, 0, 0))
    make_video(library / "b.mp4", 12, color=(0, 0, 250))
    (library / "bad.mp4").write_bytes(b"\0" * 500)
    index_dir = tmp_path / "index"
    opts = dict(frames=4, segments="fixed", workers=1, progress=False, db_url=db_url)  # 10 s windows: the counts below
    first = build_index(_tiny_encoder, BuildOptions(library, index_dir, **opts))
    assert (first.indexed, len(first.failed), first.total_segments) == (2, 1, 3)
    assert read_manifest(index_dir).catalog == "external"

    settings = Settings(index_dir=index_dir, db_url=db_url)
    with TestClient(create_app(settings, VidseekService(settings, encoder=_tiny_encoder))) as client:
        body = client.get("/search", params={"q": "a blue clip", "k": 10}).json()
        assert body["total"] == 3 and {r["title"] for r in body["results"]} == {"a.mp4", "b.mp4"}
        video_id = body["results"][0]["video_id"]
        assert client.get(f"/videos/{video_id}", headers={"Range": "bytes=0-9"}).status_code == 206

    (library / "a.mp4").unlink()
    make_video(library / "c.mp4", 3)
    second = build_index(_tiny_encoder, BuildOptions(library, index_dir, **opts))
    assert (second.indexed, second.removed, second.unchanged) == (1, 1, 2)
    reader = IndexReader(index_dir, db_url=db_url)
    paths = {v.path.rsplit("/", 1)[-1]: v.status for v in reader.videos()}
    assert paths == {"b.mp4": "indexed", "bad.mp4": "failed", "c.mp4": "indexed"}
    assert reader.count == 3
    hits, _ = reader.search(_tiny_encoder.encode_text(["x"])[0], k=10)
    assert set(reader.segments(i for i, _ in hits)) == {i for i, _ in hits}
