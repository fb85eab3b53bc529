"""The HTML pages as the server renders them (the browser tests drive them for real)."""

import re

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.services import VidseekService
from app.settings import Settings
from indexer import open_index


def video_ids(built_index) -> dict[str, int]:
    return {v.title: v.video_id for v in open_index(built_index).video_records()}


def test_pages_share_the_layout(client):
    for path, current in [("/", "/"), ("/library", "/library"), ("/classify", "/classify")]:
        html = client.get(path).text
        assert f'href="{current}" aria-current="page"' in html
        assert 'id="index-info"' in html and "vidseek-tiny" in html
        assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html  # nothing external


def test_search_page_carries_like_and_state(client):
    html = client.get("/", params={"like": "5", "k": "4"}).text
    state = re.search(r'<script id="vidseek-state" type="application/json">(.*?)</script>', html, re.S).group(1)
    assert '"like": 5' in state and '"k": 4' in state
    assert '"like": null' in client.get("/", params={"like": "-3"}).text
    assert 'id="image-input"' in html and 'id="min-score-range"' in html and 'id="query-banner"' in html
    linked = re.findall(r'(?:src|href)="/static/([^"]+)"', html)
    assert "js/search.js" in linked and "css/base.css" in linked
    for name in linked:
        assert client.get(f"/static/{name}").status_code == 200, name


def test_library_page(client, built_index):
    html = client.get("/library").text
    for title in ("red.mp4", "green.mp4", "blue_long.mp4", "yellow.mov"):
        assert f">{title}</a>" in html
    assert "nested/blue_long.mp4" in html  # the path inside the library
    assert re.search(r'<td class="num segments-count">3</td>', html)
    failed = re.search(r'<ul id="failed".*?</ul>', html, re.S).group(0)
    assert "corrupt.mp4" in failed and 'class="error"' in failed
    assert 'data-field="model">vidseek-tiny<' in html and 'data-field="count">6<' in html
    assert 'data-field="frames">4<' in html and "UTC</time>" in html


def test_watch_page(client, built_index):
    video_id = video_ids(built_index)["blue_long.mp4"]
    html = client.get(f"/watch/{video_id}", params={"t": "12.5"}).text
    assert f'src="/videos/{video_id}#t=12.5"' in html and 'data-start="12.5"' in html
    assert html.count('<li class="segment') == 3
    assert re.search(r'class="segment is-matched"[^>]*data-start="10"', html)  # the segment holding t
    assert "00:00–00:10" in html and "00:20–00:25" in html and 'href="/?like=' in html
    segment_id = open_index(built_index).video_segments(video_id)[2].segment_id
    html = client.get(f"/watch/{video_id}", params={"t": "nonsense", "segment": str(segment_id)}).text
    assert 'data-start="0"' in html and re.search(r'class="segment is-matched"[^>]*data-start="20"', html)
    assert 'data-start="25"' in client.get(f"/watch/{video_id}", params={"t": "1e9"}).text  # clamped to the end


def test_watch_page_for_missing_videos(client, built_index):
    r = client.get("/watch/999999")
    assert r.status_code == 404 and "Video not found" in r.text and "text/html" in r.headers["content-type"]
    assert client.get(f"/watch/{video_ids(built_index)['corrupt.mp4']}").status_code == 404  # failed: nothing to play
    assert client.get("/watch/abc").status_code == 422


def test_classify_page(client, built_index):
    ids = video_ids(built_index)
    html = client.get("/classify", params={"video": str(ids["green.mp4"])}).text
    assert html.count("<option value=") == 4 and "corrupt.mp4" not in html
    assert f'<option value="{ids["green.mp4"]}" selected>' in html
    segment_id = open_index(built_index).video_segments(ids["red.mp4"])[0].segment_id
    html = client.get("/classify", params={"segment": str(segment_id), "labels": "a,b"}).text
    assert f'data-segment-id="{segment_id}" checked' in html and 'value="a,b"' in html
    assert 'value="segment"' not in client.get("/classify", params={"segment": "999999"}).text


@pytest.fixture(scope="module")
def empty_client(tmp_path_factory, _tiny_encoder):
    settings = Settings(index_dir=tmp_path_factory.mktemp("empty-index"))
    with TestClient(create_app(settings, VidseekService(settings, encoder=_tiny_encoder))) as c:
        yield c


def test_pages_without_an_index_say_how_to_build_one(empty_client):
    for path in ("/", "/library", "/classify"):
        r = empty_client.get(path)
        assert r.status_code == 200 and "vidseek index build" in r.text, path
    assert 'id="no-index"' in empty_client.get("/").text
    r = empty_client.get("/watch/1")
    assert r.status_code == 503 and 'id="no-index"' in r.text
    for r in (
        empty_client.get("/search", params={"like": 1}),
        empty_client.post("/search/image", files={"file": ("x.png", b"x", "image/png")}),
    ):
        assert r.status_code == 503 and "vidseek index build" in r.json()["detail"]


def test_pages_take_any_id_without_a_server_error(client):
    assert client.get(f"/watch/{2**64}").status_code == 404
    assert client.get("/classify", params={"segment": str(2**64), "video": "١٢"}).status_code == 200
    assert client.get("/", params={"like": "9" * 40}).status_code == 200
