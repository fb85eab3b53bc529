import pytest

from indexer import VIDEO_FAILED, open_index
from tests.videos import make_video


def test_search_ranks_all_segments_by_cosine(client, built_index, service):
    r = client.get("/search", params={"group": "segment", "q": "a red clip", "k": 100})
    assert r.status_code == 200
    body = r.json()
    assert body["query"] == "a red clip" and body["total"] == 6 and body["took_ms"] >= 0
    results = body["results"]
    assert len(results) == 6
    scores = [x["score"] for x in results]
    assert scores == sorted(scores, reverse=True)
    reader = open_index(built_index)
    query = service.text_encoder.encode_text(["a red clip"])[0]  # bfloat16 where the CPU has it (auto)
    for x in results:
        assert x["score"] == pytest.approx(float(reader.segment_vector(x["segment_id"]) @ query), abs=1e-5)
        assert x["video_url"] == f"/videos/{x['video_id']}"
        assert x["thumbnail_url"] == f"/thumbnails/{x['segment_id']}.jpg"
        assert x["end"] > x["start"] >= 0
    assert {x["title"] for x in results} == {"red.mp4", "green.mp4", "blue_long.mp4", "yellow.mov"}


def test_search_paging_and_min_score(client):
    full = client.get("/search", params={"group": "segment", "q": "blue", "k": 6}).json()["results"]
    page = client.get("/search", params={"group": "segment", "q": "blue", "k": 2, "offset": 2}).json()["results"]
    assert [x["segment_id"] for x in page] == [x["segment_id"] for x in full[2:4]]
    threshold = full[2]["score"]
    above = client.get("/search", params={"group": "segment", "q": "blue", "k": 6, "min_score": threshold}).json()
    assert above["total"] == 3 and len(above["results"]) == 3
    assert all(x["score"] >= threshold for x in above["results"])


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": ""},
        {"q": "   "},
        {"q": "x" * 1001},
        {"q": "a", "k": 0},
        {"q": "a", "k": 101},
        {"q": "a", "k": "many"},
        {"q": "a", "offset": -1},
        {"q": "a", "min_score": "nan"},
        {"q": "a", "min_score": 2},
        {"q": "a\x00b"},
    ],
)
def test_bad_searches_are_422_with_a_reason(client, params):
    r = client.get("/search", params=params)
    assert r.status_code == 422
    assert r.json()["detail"]


def test_classify_an_upload(client, library):
    with open(library / "red.mp4", "rb") as f:
        r = client.post("/classify", files={"file": ("red.mp4", f, "video/mp4")}, data={"labels": "red,green, blue,red"})
    assert r.status_code == 200, r.text
    labels = r.json()["labels"]
    assert sorted(x["label"] for x in labels) == ["blue", "green", "red"]  # duplicates dropped
    probabilities = [x["probability"] for x in labels]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) == pytest.approx(1)


def test_classify_an_indexed_segment_matches_its_vector(client, built_index, _tiny_encoder):
    reader = open_index(built_index)
    segment_id = client.get("/search", params={"q": "x", "k": 1}).json()["results"][0]["segment_id"]
    r = client.post("/classify", json={"segment_id": segment_id, "labels": ["dog", "cat"], "template": "a video of a {}."})
    assert r.status_code == 200
    vector = reader.segment_vector(segment_id)
    expected = {
        l: float(v @ vector) for l, v in zip(["dog", "cat"], _tiny_encoder.encode_text(["dog", "cat"], "a video of a {}."))
    }
    for x in r.json()["labels"]:
        assert x["score"] == pytest.approx(expected[x["label"]], abs=1e-5)


def test_classify_an_indexed_video(client):
    video_id = client.get("/search", params={"q": "x", "k": 1}).json()["results"][0]["video_id"]
    r = client.post("/classify", json={"video_id": video_id, "labels": ["a", "b"]})
    assert r.status_code == 200 and len(r.json()["labels"]) == 2


@pytest.mark.parametrize(
    "body,status",
    [
        ({"labels": ["a"]}, 422),
        ({"segment_id": 1, "video_id": 1, "labels": ["a"]}, 422),
        ({"segment_id": 1, "labels": []}, 422),
        ({"segment_id": 1, "labels": [" "]}, 422),
        ({"segment_id": 1, "labels": ["a"], "template": "no slot"}, 422),
        ({"segment_id": 999999, "labels": ["a"]}, 404),
        ({"video_id": 999999, "labels": ["a"]}, 404),
    ],
)
def test_bad_classify_json(client, body, status):
    r = client.post("/classify", json=body)
    assert r.status_code == status and r.json()["detail"]


def test_classify_rejects_non_videos(client, tmp_path):
    r = client.post("/classify", files={"file": ("x.mp4", b"\x00" * 5000, "video/mp4")}, data={"labels": "a,b"})
    assert r.status_code == 422 and "decode" in r.json()["detail"]
    r = client.post("/classify", files={"file": ("x.txt", b"hello", "text/plain")}, data={"labels": "a,b"})
    assert r.status_code == 415
    r = client.post("/classify", content=b"labels=a", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    r = client.post("/classify", files={"file": ("x.mp4", b"", "video/mp4")}, data={"labels": "a"})
    assert r.status_code == 422
    r = client.post("/classify", data={"labels": "a"}, files={"other": ("x", b"1")})
    assert r.status_code == 422


def test_classify_upload_limit_is_413(client, tmp_path):
    big = make_video(tmp_path / "big.mp4", 3, size=(640, 360))
    payload = big.read_bytes() + b"\0" * (1024 * 1024)  # over the 1 MB limit of these tests
    r = client.post("/classify", files={"file": ("big.mp4", payload, "video/mp4")}, data={"labels": "a"})
    assert r.status_code == 413


def test_video_streaming_with_ranges(client, library):
    video_id = next(
        x["video_id"] for x in client.get("/search", params={"q": "x", "k": 6}).json()["results"] if x["title"] == "red.mp4"
    )
    data = (library / "red.mp4").read_bytes()
    whole = client.get(f"/videos/{video_id}")
    assert whole.status_code == 200 and whole.content == data and whole.headers["content-type"] == "video/mp4"
    assert whole.headers.get("accept-ranges") == "bytes"
    part = client.get(f"/videos/{video_id}", headers={"Range": "bytes=100-299"})
    assert part.status_code == 206 and part.content == data[100:300]
    assert part.headers["content-range"] == f"bytes 100-299/{len(data)}"
    tail = client.get(f"/videos/{video_id}", headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == data[-50:]
    open_ended = client.get(f"/videos/{video_id}", headers={"Range": f"bytes={len(data) - 10}-"})
    assert open_ended.content == data[-10:]
    assert client.get(f"/videos/{video_id}", headers={"Range": f"bytes={len(data) + 5}-"}).status_code == 416


def test_only_catalogued_videos_by_id(client, built_index):
    assert client.get("/videos/999999").status_code == 404
    assert client.get("/videos/..%2F..%2Fetc%2Fpasswd").status_code in (404, 422)
    assert client.get("/videos/%2Fetc%2Fpasswd").status_code in (404, 422)
    failed = open_index(built_index).video_records(VIDEO_FAILED)
    assert len(failed) == 1  # the corrupt file is catalogued as failed: never served
    assert client.get(f"/videos/{failed[0].video_id}").status_code == 404


def test_thumbnails(client):
    segment_id = client.get("/search", params={"q": "x", "k": 1}).json()["results"][0]["segment_id"]
    r = client.get(f"/thumbnails/{segment_id}.jpg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"
    assert client.get("/thumbnails/999999.jpg").status_code == 404


def test_health_and_docs(client):
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["index"] and health["segments"] == 6 and health["model"] == "vidseek-tiny"
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/search", "/classify", "/videos/{video_id}", "/healthz"} <= set(paths)


def test_search_page(client):
    r = client.get("/", params={"q": "<b>dogs</b>", "k": 16})
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    html = r.text
    assert 'id="q"' in html and 'id="k"' in html and "<b>dogs</b>" not in html
    for k in (4, 8, 16, 32):
        assert f'<option value="{k}"' in html
    assert '<option value="16" selected>' in html
    assert client.get("/static/js/search.js").status_code == 200
    assert client.get("/", params={"k": "bogus", "min_score": "nan"}).status_code == 200
