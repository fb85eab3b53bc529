"""Requests built to exhaust the server: elongated pictures and videos, huge label lists, bodies past the upload
limit without a Content-Length, deep JSON, control characters. Each gets a 4xx with a reason, early."""

import asyncio
import io
import json
import tempfile
import time

import httpx
import pytest
from PIL import Image

from app.main import create_app
from tests.videos import make_video

LIMIT = 1024 * 1024  # the test settings' max_upload_mb=1
CHUNK = 256 * 1024


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def search_image(client, data: bytes):
    return client.post("/search/image", files={"file": ("p.png", data, "image/png")})


@pytest.mark.parametrize("size", [(1000, 1), (1, 1000), (60000, 1), (352, 32)])
def test_an_elongated_picture_is_refused_before_it_is_scaled(client, size):
    # 1x60000 (80 bytes) was scaled to 224x13.4M pixels: 9 GB for one frame, and the server was killed
    r = search_image(client, png(*size))
    assert r.status_code == 422
    assert f"{size[0]}x{size[1]}" in r.json()["detail"] and "elongated" in r.json()["detail"]


def test_a_picture_at_the_aspect_bound_is_searched(client):
    r = search_image(client, png(320, 32))
    assert r.status_code == 200 and r.json()["mode"] == "image"


@pytest.mark.parametrize("size", [(2, 2048), (2048, 2)])
def test_an_elongated_video_upload_is_refused(client, tmp_path, size):
    # a 2x2048 video made 224x229,376 frames (150 MB each), then failed encoding a poster nobody keeps: a 500
    data = make_video(tmp_path / "thin.mp4", 1, size=size).read_bytes()
    r = client.post("/classify", files={"file": ("thin.mp4", data, "video/mp4")}, data={"labels": "a,b"})
    assert r.status_code == 422 and "elongated" in r.json()["detail"]


def test_a_video_at_the_aspect_bound_is_classified(client, tmp_path):
    data = make_video(tmp_path / "strip.mp4", 1, size=(160, 16)).read_bytes()
    r = client.post("/classify", files={"file": ("strip.mp4", data, "video/mp4")}, data={"labels": "a,b"})
    assert r.status_code == 200 and len(r.json()["labels"]) == 2


def test_repeated_labels_count_toward_the_cap(client, library):
    clip = (library / "red.mp4").read_bytes()
    r = client.post("/classify", files={"file": ("v.mp4", clip, "video/mp4")}, data={"labels": ",".join(["cat"] * 1001)})
    assert r.status_code == 422 and "at most 1000 labels" in r.json()["detail"]
    r = client.post("/classify", json={"video_id": 1, "labels": ["cat"] * 1001})
    assert r.status_code == 422


def test_a_huge_label_list_is_refused_while_other_requests_are_answered(settings, service, library):
    """40,000 labels were de-duplicated one list scan each, on the event loop: 16 s during which /healthz waited."""
    clip = (library / "red.mp4").read_bytes()
    labels = ",".join(f"l{i}" for i in range(40_000))

    async def scenario():
        transport = httpx.ASGITransport(app=create_app(settings, service))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            started = time.perf_counter()
            big = asyncio.create_task(c.post("/classify", files={"file": ("v.mp4", clip, "video/mp4")}, data={"labels": labels}))
            waits = []
            while not big.done():
                asked = time.perf_counter()
                assert (await c.get("/healthz")).status_code == 200
                await asyncio.sleep(0.01)  # the big request runs here too: a blocked loop shows up in this wait
                waits.append(time.perf_counter() - asked - 0.01)
            return await big, time.perf_counter() - started, max(waits)

    response, took, longest_wait = asyncio.run(scenario())
    assert response.status_code == 422 and "at most 1000 labels" in response.json()["detail"]
    assert took < 2.0 and longest_wait < 1.0, (took, longest_wait)


def post_streamed(settings, service, path: str, content_type: str, chunks) -> tuple[httpx.Response, int]:
    """POST a body sent chunked (no Content-Length) through the ASGI interface; returns the response and how many
    bytes the server pulled before answering."""
    pulled = 0

    async def body():
        nonlocal pulled
        for chunk in chunks:
            pulled += len(chunk)
            yield chunk

    async def send():
        transport = httpx.ASGITransport(app=create_app(settings, service))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await c.post(path, content=body(), headers={"content-type": content_type})

    response = asyncio.run(send())
    return response, pulled


def multipart_chunks(total: int):
    yield b'--b0undary\r\nContent-Disposition: form-data; name="labels"\r\n\r\na,b\r\n'
    yield b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="v.mp4"\r\nContent-Type: video/mp4\r\n\r\n'
    for _ in range(total // CHUNK):
        yield b"\0" * CHUNK
    yield b"\r\n--b0undary--\r\n"


@pytest.mark.parametrize("path", ["/classify", "/search/image"])
def test_a_chunked_upload_is_refused_at_the_limit_not_after_reading_it(settings, service, path):
    # 300 MB sent chunked were spooled whole to disk before the 413
    r, pulled = post_streamed(settings, service, path, "multipart/form-data; boundary=b0undary", multipart_chunks(30 * LIMIT))
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    assert pulled <= LIMIT + 64 * 1024 + 2 * CHUNK


def test_a_json_body_past_the_limit_is_refused_as_it_arrives(settings, service, client):
    body = json.dumps({"video_id": 1, "labels": ["a", "b"], "padding": "x" * (5 * LIMIT)}).encode()
    r, pulled = post_streamed(
        settings, service, "/classify", "application/json", (body[i : i + CHUNK] for i in range(0, len(body), CHUNK))
    )
    assert r.status_code == 413 and pulled <= LIMIT + CHUNK  # was read whole and answered 200
    r = client.post("/classify", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_deeply_nested_json_is_a_422(client):
    deep = b'{"video_id": 1, "labels": ["a"], "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for body in (b"[" * 100_000 + b"]" * 100_000, deep):
        r = client.post("/classify", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422 and "JSON" in r.json()["detail"]  # was RecursionError: a 500


def test_an_undecodable_upload_is_refused_without_the_servers_temp_path(client):
    r = client.post("/classify", files={"file": ("v.mp4", b"junk\0" * 1000, "video/mp4")}, data={"labels": "a,b"})
    assert r.status_code == 422 and "Invalid data" in r.json()["detail"]  # FFmpeg's own reason
    assert tempfile.gettempdir() not in r.json()["detail"] and "vidseek-upload" not in r.json()["detail"]
    r = client.post("/classify", files={"file": ("v.mp4", b"junk" * 1000, "video/mp4")}, data={"labels": "a,b"})
    assert r.status_code == 422 and "holds text" in r.json()["detail"]  # never handed to FFmpeg
    assert tempfile.gettempdir() not in r.json()["detail"] and "vidseek-upload" not in r.json()["detail"]


@pytest.mark.parametrize("control", ["\x7f", "\x85", "\x9f", "\x1b", "\x00"])
def test_control_characters_in_q_are_refused(client, control):
    r = client.get("/search", params={"q": f"a red{control} clip"})
    assert r.status_code == 422 and "control characters" in r.json()["detail"]


def test_tabs_and_line_breaks_in_q_are_whitespace(client):
    assert client.get("/search", params={"q": "a red\tclip\r\n"}).status_code == 200
