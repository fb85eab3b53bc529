"""Who may read what (VIDSEEK_PUBLIC_SEARCH=false closes every path but /healthz; a non-ASCII key works), HEAD on
the pages, the API docs served without a CDN, and what the pages say about the model (random weights, the demo's
own classify prompt)."""

from __future__ import annotations

import re

import pytest
import torch
from fastapi.testclient import TestClient

from app.main import create_app
from app.schemas import DEFAULT_TEMPLATE
from app.services import VidseekService
from app.settings import Settings
from models import load_encoder

KEY = "s3cret"


@pytest.fixture()
def closed(built_index, service):
    """An app with VIDSEEK_PUBLIC_SEARCH=false and a key."""
    return TestClient(create_app(Settings(index_dir=built_index, api_key=KEY, public_search=False), service))


def local_assets(html: str) -> list[str]:
    """Every URL the page loads by itself (script src, link href), failing on one that leaves the server."""
    urls = re.findall(r"<(?:script|link)\b[^>]*?\b(?:src|href)=[\"']([^\"']+)", html)
    assert urls, "the page loads no assets"
    outside = [u for u in urls if re.match(r"^(?:[a-z]+:)?//", u, re.I)]
    assert outside == [], f"assets from outside the server: {outside}"
    return urls


# -- VIDSEEK_PUBLIC_SEARCH=false: every path but /healthz needs the key


@pytest.mark.parametrize(
    "path",
    [
        "/docs",
        "/redoc",
        "/openapi.json",
        "/static/js/search.js",
        "/static/css/base.css",
        "/static-docs/swagger-ui-bundle.js",
        "/",
    ],
)
def test_closed_search_closes_the_docs_the_schema_and_the_static_files(closed, path):
    refused = closed.get(path)
    assert refused.status_code == 401 and "API key" in refused.json()["detail"]
    assert refused.headers["www-authenticate"] == "Bearer"
    assert closed.get(path, headers={"X-API-Key": KEY}).status_code == 200
    assert closed.get(path, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


def test_closed_search_leaves_healthz_open_and_says_nothing_of_unknown_paths(closed):
    assert closed.get("/healthz").status_code == 200
    assert closed.head("/healthz").status_code == 200
    assert closed.get("/no-such-page").status_code == 401  # not even whether a path exists
    assert closed.get("/no-such-page", headers={"X-API-Key": KEY}).status_code == 404


def test_open_search_leaves_the_docs_and_the_assets_open(built_index, service):
    client = TestClient(create_app(Settings(index_dir=built_index, api_key=KEY), service))
    for path in ("/docs", "/openapi.json", "/static/js/search.js", "/static-docs/swagger-ui.css"):
        assert client.get(path).status_code == 200, path


# -- a non-ASCII key


def test_a_non_ascii_key_matches_the_utf8_bytes_clients_send(built_index, service):
    key = "clé-ключ-🔑"
    client = TestClient(create_app(Settings(index_dir=built_index, api_key=key, public_search=False), service))
    sent = key.encode()  # what curl -H 'X-API-Key: clé…' sends from a UTF-8 terminal
    found = client.get("/search", params={"q": "red", "k": 1}, headers={"X-API-Key": sent})
    assert found.status_code == 200, found.text
    segment_id = found.json()["results"][0]["segment_id"]
    body = {"segment_id": segment_id, "labels": ["red", "blue"]}
    assert client.post("/classify", json=body, headers={"X-API-Key": sent}).status_code == 200
    assert client.post("/classify", json=body, headers={"Authorization": b"Bearer " + sent}).status_code == 200
    assert client.post("/classify", json=body, headers={"X-API-Key": "clé".encode()}).status_code == 401
    assert client.post("/classify", json=body, headers={"X-API-Key": key.encode("utf-16")[2:]}).status_code == 401


# -- HEAD answers like GET, without a body


def test_head_on_the_pages_healthz_and_the_docs_answers_like_get_without_a_body(client):
    watch = client.get("/library").text
    video_path = re.search(r'href="(/watch/\d+)', watch).group(1)
    for path in ("/", "/?q=red", "/library", "/classify", video_path, "/healthz", "/docs", "/redoc"):
        head, get = client.head(path), client.get(path)
        assert (head.status_code, head.content) == (200, b""), path
        assert head.headers["content-type"] == get.headers["content-type"], path
    assert client.head("/watch/999999").status_code == 404


def test_head_leaves_the_openapi_document_as_it_was(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/healthz"]) == {"get"}
    assert not {"/", "/library", "/classify", "/watch/{video_id}"} & {p for p, ops in paths.items() if "get" in ops}


# -- /docs and /redoc work offline


@pytest.mark.parametrize(("page", "kinds"), [("/docs", {"javascript", "css"}), ("/redoc", {"javascript"})])
def test_the_api_docs_load_their_assets_from_the_server_itself(client, page, kinds):
    html = client.get(page)
    assert html.status_code == 200 and "/openapi.json" in html.text
    seen = set()
    for url in local_assets(html.text):
        asset = client.get(url)
        assert asset.status_code == 200 and asset.content, url
        seen |= {kind for kind in ("javascript", "css", "image") if kind in asset.headers["content-type"]}
    assert kinds <= seen


# -- what the pages say about the model


def test_random_weights_are_said_to_make_results_meaningless(client, tmp_path, _tiny_encoder):
    for path in ("/", "/classify", "/library"):
        page = client.get(path).text
        assert 'id="random-weights"' in page and "meaningless" in page, path
    weights = tmp_path / "trained.pt"
    torch.save(_tiny_encoder.model.state_dict(), weights)
    trained = load_encoder("vidseek-tiny", str(weights), "cpu")
    settings = Settings(index_dir=tmp_path / "no-index")
    with TestClient(create_app(settings, VidseekService(settings, encoder=trained))) as trained_client:
        page = trained_client.get("/classify").text
        assert "random-weights" not in page and "meaningless" not in page


def test_the_demo_classify_page_starts_with_the_prompt_its_model_learnt(built_index, tmp_path):
    from app.demo import CLASSIFY_TEMPLATE, DemoResult, demo_app  # here: the old code has neither

    result = DemoResult(tmp_path, built_index, tmp_path / "model.pt", 0, 0.0, 0.0, ["a small red circle moving"])
    with TestClient(demo_app(result, Settings(index_dir=built_index))) as demo:
        assert f'id="template" type="text" value="{CLASSIFY_TEMPLATE}"' in demo.get("/classify").text
        assert "a small red circle moving" in demo.get("/").text
    assert CLASSIFY_TEMPLATE != DEFAULT_TEMPLATE


def test_the_classify_page_starts_with_the_default_prompt_elsewhere(client):
    assert f'id="template" type="text" value="{DEFAULT_TEMPLATE}"' in client.get("/classify").text


def test_a_query_of_spaces_titles_the_page_plainly(client):
    assert "<title>vidseek</title>" in client.get("/", params={"q": "   "}).text
