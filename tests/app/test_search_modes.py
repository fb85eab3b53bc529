"""GET /search?like= ("more like this") and POST /search/image (query by picture); the picture's own decoding is
tested with indexer.clips (tests/indexer/test_clips.py)."""

import io

import numpy as np
import pytest
from PIL import Image

from indexer import open_index
from indexer.clips import decode_short_side, image_frame

SEGMENTS = 6


def picture(color=(220, 30, 30), size=(64, 48), fmt="PNG", mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, fmt)
    return buffer.getvalue()


def some_segment(client) -> dict:
    return client.get("/search", params={"q": "x", "k": 1}).json()["results"][0]


def test_more_like_a_segment_ranks_by_its_own_vector_and_leaves_it_out(client, built_index):
    query = some_segment(client)
    r = client.get("/search", params={"group": "segment", "like": query["segment_id"], "k": 100})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mode"] == "like" and body["query"] == ""
    assert body["like"]["segment_id"] == query["segment_id"] and body["like"]["score"] == 1.0
    assert body["like"]["title"] == query["title"] and body["like"]["start"] == query["start"]
    ids = [x["segment_id"] for x in body["results"]]
    assert query["segment_id"] not in ids and len(ids) == SEGMENTS - 1 == body["total"]
    reader = open_index(built_index)
    vector = reader.segment_vector(query["segment_id"])
    for x in body["results"]:
        assert x["score"] == pytest.approx(float(reader.segment_vector(x["segment_id"]) @ vector), abs=1e-5)
    assert [x["score"] for x in body["results"]] == sorted((x["score"] for x in body["results"]), reverse=True)


def test_more_like_this_pages_and_min_score(client):
    like = some_segment(client)["segment_id"]
    full = client.get("/search", params={"group": "segment", "like": like, "k": 10}).json()["results"]
    page = client.get("/search", params={"group": "segment", "like": like, "k": 2, "offset": 2}).json()
    assert [x["segment_id"] for x in page["results"]] == [x["segment_id"] for x in full[2:4]]
    assert page["total"] == SEGMENTS - 1
    threshold = full[1]["score"]
    above = client.get("/search", params={"group": "segment", "like": like, "k": 10, "min_score": threshold}).json()
    assert [x["segment_id"] for x in above["results"]] == [x["segment_id"] for x in full[:2]]
    assert above["total"] == 2  # the query segment itself is not counted


@pytest.mark.parametrize(
    "params,status",
    [
        ({"like": 999999}, 404),
        ({"like": -1}, 422),
        ({"like": "abc"}, 422),
        ({"like": 1, "q": "red"}, 422),
        ({"like": 1, "k": 0}, 422),
    ],
)
def test_bad_like_searches(client, params, status):
    r = client.get("/search", params=params)
    assert r.status_code == status and r.json()["detail"]


def test_text_search_says_its_mode(client):
    body = client.get("/search", params={"q": "red"}).json()
    assert body["mode"] == "text" and body["like"] is None and body["query"] == "red"


def test_search_by_picture_is_a_one_frame_clip(client, built_index, _tiny_encoder):
    data = picture()
    r = client.post("/search/image", files={"file": ("red.png", data, "image/png")}, params={"group": "segment", "k": 100})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mode"] == "image" and body["total"] == SEGMENTS and len(body["results"]) == SEGMENTS
    vector = _tiny_encoder.encode_video(image_frame(data, decode_short_side(_tiny_encoder.preprocess.resize)))
    assert np.linalg.norm(vector) == pytest.approx(1, abs=1e-5)
    reader = open_index(built_index)
    for x in body["results"]:
        assert x["score"] == pytest.approx(float(reader.segment_vector(x["segment_id"]) @ vector), abs=1e-4)
    page = client.post(
        "/search/image", files={"file": ("red.png", data, "image/png")}, params={"group": "segment", "k": 2, "offset": 2}
    ).json()
    assert [x["segment_id"] for x in page["results"]] == [x["segment_id"] for x in body["results"][2:4]]


def test_search_by_picture_accepts_common_formats(client):
    for fmt, mode, ctype in [
        ("JPEG", "RGB", "image/jpeg"),
        ("GIF", "P", "image/gif"),
        ("WEBP", "RGBA", "image/webp"),
        ("BMP", "L", "image/bmp"),
        ("PNG", "RGBA", "application/octet-stream"),
    ]:
        data = picture(0, fmt=fmt, mode=mode)
        r = client.post("/search/image", files={"file": (f"x.{fmt.lower()}", data, ctype)})
        assert r.status_code == 200, (fmt, r.text)


def test_search_by_picture_refuses_what_is_not_one(client):
    r = client.post("/search/image", files={"file": ("x.txt", b"hello", "text/plain")})
    assert r.status_code == 415 and "image" in r.json()["detail"]
    r = client.post("/search/image", files={"file": ("x.png", b"\x89PNG not really", "image/png")})
    assert r.status_code == 422 and "not an image" in r.json()["detail"]
    r = client.post("/search/image", files={"file": ("x.png", b"", "image/png")})
    assert r.status_code == 422 and "empty" in r.json()["detail"]
    r = client.post("/search/image", data={"other": "1"}, files={"x": ("x", b"1")})
    assert r.status_code == 422 and "'file'" in r.json()["detail"]
    r = client.post("/search/image", content=b"{}", headers={"content-type": "application/json"})
    assert r.status_code == 415
    r = client.post("/search/image", files={"file": ("x.png", picture(), "image/png")}, params={"k": 0})
    assert r.status_code == 422


def test_search_by_picture_upload_limit_is_413(client):
    noise = np.random.default_rng(0).integers(0, 256, (700, 700, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "PNG")  # ~1.5 MB: over the 1 MB limit of these tests
    r = client.post("/search/image", files={"file": ("big.png", buffer.getvalue(), "image/png")})
    assert r.status_code == 413


@pytest.mark.parametrize("like", [2**63, 10**30])
def test_like_ids_beyond_64_bits_are_422(client, like):
    assert client.get("/search", params={"like": like}).status_code == 422
