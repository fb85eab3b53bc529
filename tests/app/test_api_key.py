"""VIDSEEK_API_KEY guards uploads; VIDSEEK_PUBLIC_SEARCH=false guards searching too."""

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings


@pytest.fixture()
def keyed(built_index, service):
    def make(**kw):
        return TestClient(create_app(Settings(index_dir=built_index, max_upload_mb=1, api_key="s3cret", **kw), service))

    return make


def classify(client, library, **headers):
    with open(library / "red.mp4", "rb") as f:
        return client.post("/classify", files={"file": ("r.mp4", f, "video/mp4")}, data={"labels": "a,b"}, headers=headers)


def test_uploads_need_the_key(keyed, library):
    client = keyed()
    r = classify(client, library)
    assert r.status_code == 401 and "API key" in r.json()["detail"]
    assert classify(client, library, **{"X-API-Key": "wrong"}).status_code == 401
    assert classify(client, library, **{"X-API-Key": "s3cret"}).status_code == 200
    assert classify(client, library, Authorization="Bearer s3cret").status_code == 200
    assert client.post("/search/image", files={"file": ("x.png", b"\x89PNG", "image/png")}).status_code == 401
    assert client.post("/classify", json={"segment_id": 1, "labels": ["a"]}).status_code == 401


def test_search_stays_open_unless_closed(keyed):
    open_client = keyed()
    assert open_client.get("/search", params={"q": "x"}).status_code == 200
    assert open_client.get("/").status_code == 200
    closed = keyed(public_search=False)
    assert closed.get("/search", params={"q": "x"}).status_code == 401
    assert closed.get("/videos/2").status_code == 401
    assert closed.get("/search", params={"q": "x"}, headers={"X-API-Key": "s3cret"}).status_code == 200
    assert closed.get("/healthz").status_code == 200  # liveness stays open for orchestrators
