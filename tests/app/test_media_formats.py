"""Every file plays in the browser, photos too: the hit's URLs (a preview when there is one, a photo's picture, the
sprites track), the preview, sprite and photo routes (GET, HEAD, Range, 404s that say why), the originals' media
types, photos a browser cannot show sent as JPEG, and the library and player pages saying how each file plays."""

from __future__ import annotations

import io
import re
import struct
from dataclasses import replace

import numpy as np
import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from PIL import Image

from app.main import create_app
from app.present import byte_size, plays_as, preview_disk_use
from app.routes.media import original_type
from app.services import VidseekService
from app.settings import Settings
from indexer import Manifest, current_generation, open_index
from indexer.decoders import VideoInfo
from indexer.index_dir.layout import MANIFEST, preview_path, sprite_paths
from indexer.index_dir.records import PHOTO_KIND
from indexer.index_dir.writer import IndexWriter
from indexer.pipeline.local import build_index
from indexer.pipeline.options import BuildOptions
from indexer.scan import PHOTO_EXTENSIONS, VIDEO_EXTENSIONS, fingerprint_file
from indexer.segment import Segment
from tests.videos import make_video

SIZE = (64, 48)
TILE = (32, 24)
PREVIEW_FAILED = "the H.264 encoder gave up on this file"


def sprite_track(video_id: int, tiles: int) -> str:
    """A WebVTT thumbnails track of ``tiles`` one-second cues, in a row of the sheet, named as the build names it."""
    cues = [
        f"00:00:{i:02d}.000 --> 00:00:{i + 1:02d}.000\n{video_id}.jpg#xywh={i * TILE[0]},0,{TILE[0]},{TILE[1]}"
        for i in range(tiles)
    ]
    return "WEBVTT\n\n" + "\n\n".join(cues) + "\n"


def sprite_sheet(colors) -> bytes:
    sheet = Image.new("RGB", (TILE[0] * len(colors), TILE[1]))
    for i, color in enumerate(colors):
        sheet.paste(color, (i * TILE[0], 0, (i + 1) * TILE[0], TILE[1]))
    out = io.BytesIO()
    sheet.save(out, "JPEG", quality=95)
    return out.getvalue()


def bmp_header(width: int, height: int) -> bytes:
    """A BMP file's headers alone, claiming ``width`` x ``height`` pixels of 24 bits (no pixel data)."""
    return b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 0, 0, 0, 0)


def add_photo_by_hand(writer: IndexWriter, path, dim: int) -> int:
    """Catalogue ``path`` as an indexed photo (as a build would, had it decoded): its id."""
    st = path.stat()
    info = VideoInfo(duration=0.0, fps=0.0, width=9000, height=9000, codec="bmp")
    vector = np.random.default_rng(1).normal(size=(1, dim)).astype(np.float32)
    writer.add_video(
        str(path), fingerprint_file(path, st.st_size, st.st_mtime_ns), st.st_size, info, [Segment(0.0, 0.0)],
        vector / np.linalg.norm(vector), [], device=st.st_dev, inode=st.st_ino, kind=PHOTO_KIND,
    )  # fmt: skip
    return next(v.id for v in writer.indexed_videos(PHOTO_KIND) if v.path == str(path))


@pytest.fixture(scope="module")
def served(tmp_path_factory, _tiny_encoder):
    """A library of videos in four containers and photos, indexed; then previews and sprites recorded as the build's
    preview stage would (one made, one that failed, one catalogued whose file is gone) and two photos added by hand
    (damaged, too many pixels). Yields (ids by file name, the index dir, the library, a client)."""
    root = tmp_path_factory.mktemp("formats")
    library, index_dir = root / "lib", root / "index"
    make_video(library / "clip.mp4", 3, size=SIZE, color=(200, 30, 30))
    make_video(library / "tape.mpg", 2, size=SIZE, codec="mpeg2video")
    make_video(library / "cam.mts", 2, size=SIZE)
    make_video(library / "old.wmv", 2, size=SIZE, codec="wmv2")
    Image.new("RGB", (40, 30), (10, 200, 10)).save(library / "leaf.png")
    Image.new("RGB", (40, 30), (10, 10, 200)).save(library / "scan.jpg", format="BMP")  # a BMP named as a JPEG
    build_index(_tiny_encoder, BuildOptions(library, index_dir, frames=2, workers=2, progress=False, previews="off"))
    (library / "broken.jpg").write_bytes(bmp_header(40, 30) + b"\0" * 10)  # its pixels cut short
    (library / "huge.jpg").write_bytes(bmp_header(9000, 9000))  # 81 megapixels, by its header

    writer = IndexWriter(index_dir, Manifest.read(current_generation(index_dir) / MANIFEST))
    extra = {name: add_photo_by_hand(writer, library / name, writer.manifest.dim) for name in ("broken.jpg", "huge.jpg")}
    videos = {v.path.rsplit("/", 1)[-1]: v for v in writer.indexed_videos()}
    clip = videos["clip.mp4"]
    preview = make_video(root / "preview.mp4", 3, size=SIZE, color=(200, 30, 30)).read_bytes()
    preview_path(index_dir, clip.id).write_bytes(preview)
    sheet, track = sprite_paths(index_dir, clip.id)
    sheet.write_bytes(sprite_sheet([(250, 0, 0), (0, 250, 0), (0, 0, 250)]))
    track.write_text(sprite_track(clip.id, 3))
    writer.record_previews(clip, len(preview), sheet.stat().st_size + track.stat().st_size)
    preview_path(index_dir, videos["tape.mpg"].id).write_bytes(b"a preview the catalog does not know of")
    writer.record_previews(videos["tape.mpg"], None, None)
    writer.record_previews(videos["old.wmv"], None, None, PREVIEW_FAILED)
    writer.record_previews(videos["cam.mts"], 1234, None)  # catalogued, but its file is not there
    writer.publish()

    ids = {name: v.id for name, v in videos.items()} | extra
    settings = Settings(index_dir=index_dir)
    with TestClient(create_app(settings, VidseekService(settings, encoder=_tiny_encoder))) as client:
        yield ids, index_dir, library, client


def hits_by_title(client) -> dict[str, dict]:
    results = client.get("/search", params={"q": "anything", "k": 20}).json()["results"]
    return {r["title"]: r for r in results}


def test_a_hit_says_what_plays_what_downloads_and_what_scrubs(served):
    ids, _, _, client = served
    hits = hits_by_title(client)
    clip, wmv, leaf = hits["clip.mp4"], hits["old.wmv"], hits["leaf.png"]
    i = ids["clip.mp4"]
    assert (clip["kind"], clip["video_url"], clip["original_url"]) == ("video", f"/previews/{i}.mp4", f"/videos/{i}")
    assert clip["sprites_url"] == f"/sprites/{i}.vtt" and clip["image_url"] is None
    i = ids["old.wmv"]  # no preview: the original plays, nothing to scrub
    assert (wmv["video_url"], wmv["original_url"], wmv["sprites_url"]) == (f"/videos/{i}", f"/videos/{i}", None)
    i = ids["leaf.png"]
    assert (leaf["kind"], leaf["video_url"], leaf["image_url"]) == ("photo", None, f"/photos/{i}")
    assert leaf["original_url"] == f"/videos/{i}" and leaf["sprites_url"] is None
    assert leaf["thumbnail_url"] == f"/thumbnails/{leaf['segment_id']}.jpg" and leaf["start"] == leaf["end"] == 0
    like = client.get("/search", params={"like": clip["segment_id"], "k": 20}).json()
    assert like["like"]["video_url"] == clip["video_url"] and like["like"]["sprites_url"] == clip["sprites_url"]


@pytest.mark.parametrize(
    ("route", "media_type", "file_of"),
    [
        ("/previews/{}.mp4", "video/mp4", lambda index, i: preview_path(index, i)),
        ("/sprites/{}.jpg", "image/jpeg", lambda index, i: sprite_paths(index, i)[0]),
        ("/sprites/{}.vtt", "text/vtt; charset=utf-8", lambda index, i: sprite_paths(index, i)[1]),
    ],
    ids=["preview", "sheet", "track"],
)
def test_previews_and_sprites_answer_get_and_head(served, route, media_type, file_of):
    ids, index_dir, _, client = served
    url = route.format(ids["clip.mp4"])
    data = file_of(index_dir, ids["clip.mp4"]).read_bytes()
    get, head = client.get(url), client.head(url)
    for r in (get, head):
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == media_type and r.headers["accept-ranges"] == "bytes"
        assert r.headers["content-length"] == str(len(data)) and r.headers["etag"] == get.headers["etag"]
    assert get.content == data and head.content == b""


def test_a_preview_is_served_in_ranges(served):
    ids, index_dir, _, client = served
    url = f"/previews/{ids['clip.mp4']}.mp4"
    data = preview_path(index_dir, ids["clip.mp4"]).read_bytes()
    part = client.get(url, headers={"Range": "bytes=10-29"})
    assert part.status_code == 206 and part.content == data[10:30]
    assert part.headers["content-range"] == f"bytes 10-29/{len(data)}" and part.headers["content-length"] == "20"
    tail = client.head(url, headers={"Range": "bytes=-16"})
    assert tail.status_code == 206 and tail.headers["content-length"] == "16" and tail.content == b""
    assert client.get(url, headers={"Range": f"bytes={len(data) + 5}-"}).status_code == 416


def test_a_track_names_its_sheet_beside_it(served):
    ids, _, _, client = served
    i = ids["clip.mp4"]
    track = client.get(f"/sprites/{i}.vtt").text
    assert track.startswith("WEBVTT") and f"{i}.jpg#xywh=32,0,32,24" in track
    sheet = Image.open(io.BytesIO(client.get(f"/sprites/{i}.jpg").content))
    assert sheet.size == (96, 24) and sheet.getpixel((48, 12))[1] > 200  # the second tile is green


@pytest.mark.parametrize(
    ("route", "name", "reason"),
    [
        ("/previews/{}.mp4", "old.wmv", f"has no preview ({PREVIEW_FAILED}): it plays as it is, at /videos/"),
        ("/previews/{}.mp4", "tape.mpg", "has no preview: it plays as it is"),  # a stray file is not served
        ("/previews/{}.mp4", "cam.mts", "preview is missing from the index dir: re-run 'vidseek index build'"),
        ("/previews/{}.mp4", "leaf.png", "is a photo: it has no preview"),
        ("/sprites/{}.jpg", "tape.mpg", "has no sprite sheet (built with --previews off?)"),
        ("/sprites/{}.vtt", "old.wmv", f"has no sprite sheet ({PREVIEW_FAILED})"),
        ("/sprites/{}.vtt", "leaf.png", "has no sprite sheet (a photo)"),
        ("/photos/{}", "clip.mp4", "is a video, not a photo: it plays at /videos/"),
        ("/previews/{}.mp4", 999999, "no indexed video 999999"),
        ("/photos/{}", 999999, "no indexed video 999999"),
    ],
)
def test_nothing_to_send_is_a_404_that_says_why(served, route, name, reason):
    ids, _, _, client = served
    url = route.format(ids.get(name, name))
    for r in (client.get(url), client.head(url)):
        assert r.status_code == 404
    assert reason in client.get(url).json()["detail"]


def test_ids_are_checked_as_on_videos(served):
    _, _, _, client = served
    for url in ("/previews/-1.mp4", "/sprites/abc.vtt", f"/photos/{2**64}", "/sprites/1.png"):
        assert client.get(url).status_code in (404, 422), url


@pytest.mark.parametrize(
    ("name", "media_type"),
    [("clip.mp4", "video/mp4"), ("tape.mpg", "video/mpeg"), ("cam.mts", "video/mp2t"), ("old.wmv", "video/x-ms-wmv"),
     ("leaf.png", "image/png"), ("scan.jpg", "image/jpeg")],
)  # fmt: skip
def test_an_original_is_sent_as_its_container(served, name, media_type):
    ids, _, library, client = served
    r = client.get(f"/videos/{ids[name]}")
    assert r.status_code == 200 and r.headers["content-type"] == media_type
    assert r.content == (library / name).read_bytes()
    assert client.head(f"/videos/{ids[name]}").headers["content-type"] == media_type


def test_every_scanned_ending_has_a_media_type_of_its_own():
    for ending in VIDEO_EXTENSIONS | PHOTO_EXTENSIONS:
        media_type = original_type(f"file{ending}")
        assert media_type.split("/")[0] in ("video", "image", "application"), ending
        assert media_type != "application/octet-stream", ending


def test_a_photo_a_browser_shows_is_sent_as_it_is(served):
    ids, _, library, client = served
    url = f"/photos/{ids['leaf.png']}"
    data = (library / "leaf.png").read_bytes()
    get, head = client.get(url), client.head(url)
    assert get.status_code == head.status_code == 200
    assert get.content == data and head.content == b"" and head.headers["content-length"] == str(len(data))
    assert get.headers["content-type"] == "image/png" and get.headers["accept-ranges"] == "bytes"
    part = client.get(url, headers={"Range": "bytes=0-7"})
    assert part.status_code == 206 and part.content == b"\x89PNG\r\n\x1a\n"


def test_a_photo_a_browser_cannot_show_is_sent_as_a_jpeg(served):
    """scan.jpg holds a BMP: what its bytes are decides, not its name."""
    ids, _, _, client = served
    url = f"/photos/{ids['scan.jpg']}"
    get, head = client.get(url), client.head(url)
    assert get.status_code == 200 and get.headers["content-type"] == "image/jpeg"
    picture = Image.open(io.BytesIO(get.content))
    assert picture.format == "JPEG" and picture.size == (40, 30)
    assert np.abs(np.asarray(picture, dtype=int) - (10, 10, 200)).max() < 12
    assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(len(get.content))
    assert head.headers["etag"] == get.headers["etag"] and get.headers["accept-ranges"] == "bytes"
    part = client.get(url, headers={"Range": "bytes=0-1"})
    assert part.status_code == 206 and part.content == b"\xff\xd8"
    assert client.get(url).content == get.content  # the same JPEG again (kept, not made anew)


@pytest.mark.parametrize(
    ("name", "reason"),
    [("broken.jpg", "could not be decoded"), ("huge.jpg", "81,000,000 pixels: at most 64,000,000 are shown")],
)
def test_a_photo_that_cannot_be_read_is_a_422_with_the_reason(served, name, reason):
    ids, _, _, client = served
    r = client.get(f"/photos/{ids[name]}")
    assert r.status_code == 422 and f"photo {ids[name]} cannot be shown" in r.json()["detail"]
    assert reason in r.json()["detail"]
    assert client.head(f"/photos/{ids[name]}").status_code == 422


def test_a_large_photo_is_sent_at_most_2560_pixels_long(tmp_path):
    from app.services.library import photo_as_jpeg

    buffer = io.BytesIO()
    Image.new("RGBA", (3000, 1000), (0, 0, 0, 0)).save(buffer, "TIFF")
    picture = Image.open(io.BytesIO(photo_as_jpeg(buffer, 2560)))
    assert picture.size == (2560, 853) and picture.getpixel((10, 10))[0] > 240  # transparency on white


def test_the_library_page_says_how_each_file_plays_and_what_previews_take(served):
    ids, index_dir, _, client = served
    html = client.get("/library").text
    records = {v.title: v for v in open_index(index_dir).video_records()}

    def row(name: str) -> str:
        return re.search(rf'<tr data-video-id="{ids[name]}">.*?</tr>', html, re.S).group(0)

    assert 'data-kind="photo"' in row("leaf.png") and 'data-kind="video"' in row("clip.mp4")
    assert re.search(r'class="hide-narrow plays-as">preview<', row("clip.mp4"))
    assert f"original (no preview: {PREVIEW_FAILED})" in row("old.wmv")
    for name in ids:
        assert f'class="hide-narrow plays-as">{escape(plays_as(records[name]))}<' in row(name), name
    indexed = [v for v in records.values() if v.indexed]
    made = sum((v.preview_bytes or 0) + (v.sprite_bytes or 0) for v in indexed)
    assert made == records["clip.mp4"].preview_bytes + records["clip.mp4"].sprite_bytes + 1234
    use = preview_disk_use(made, sum(v.size for v in indexed))
    assert f'data-field="previews">{escape(use)}<' in html and use.startswith(byte_size(made)) and "% of the originals'" in use
    failed = re.search(r'<ul id="previews-failed".*?</ul>', html, re.S).group(0)
    assert "old.wmv" in failed and PREVIEW_FAILED in failed and "clip.mp4" not in failed


@pytest.mark.parametrize(
    ("changes", "shown"),
    [
        ({"kind": PHOTO_KIND}, "picture"),
        ({"preview_bytes": 10, "preview_error": "ignored once a preview exists"}, "preview"),
        ({"preview_error": "no encoder"}, "original (no preview: no encoder)"),
        ({"playable": True}, "original"),
        ({"playable": False}, "original (a browser may not play it)"),
        ({}, "not probed"),
    ],
)
def test_how_a_file_plays_reads(served, changes, shown):
    _, index_dir, _, _ = served
    record = next(v for v in open_index(index_dir).video_records() if v.title == "tape.mpg")
    neutral = replace(record, playable=None, preview_bytes=None, sprite_bytes=None, preview_error=None)
    assert plays_as(replace(neutral, **changes)) == shown


def test_the_player_plays_the_preview_and_scrubs_over_the_sprites(served):
    ids, _, _, client = served
    i = ids["clip.mp4"]
    html = client.get(f"/watch/{i}", params={"t": "1.5"}).text
    assert f'src="/previews/{i}.mp4#t=1.5"' in html and 'data-preview="1"' in html
    assert f'<track kind="metadata" label="thumbnails" src="/sprites/{i}.vtt">' in html
    assert re.search(rf'id="scrub-bar"[^>]*data-sprites="/sprites/{i}.vtt"', html)
    assert f'class="download-link" href="/videos/{i}" download' in html
    i = ids["old.wmv"]
    html = client.get(f"/watch/{i}").text
    assert f'src="/videos/{i}#t=0"' in html and 'data-preview="0"' in html
    assert 'id="scrub-bar"' not in html and "<track" not in html


def test_a_photo_has_a_view_of_its_own(served):
    ids, index_dir, _, client = served
    i = ids["leaf.png"]
    segment_id = open_index(index_dir).video_segments(i)[0].segment_id
    html = client.get(f"/watch/{i}").text
    assert re.search(rf'<img id="photo" src="/photos/{i}" alt="leaf.png"[^>]*width="40" height="30"', html)
    assert f'href="/?like={segment_id}"' in html and f'href="/videos/{i}" download' in html
    assert "<video" not in html and 'id="segments"' not in html and "40×30" in html


def test_a_photo_is_classified_by_its_own_vector(served):
    ids, index_dir, _, client = served
    i = ids["leaf.png"]
    segment_id = open_index(index_dir).video_segments(i)[0].segment_id
    by_video = client.post("/classify", json={"video_id": i, "labels": ["a leaf", "a car"]})
    by_segment = client.post("/classify", json={"segment_id": segment_id, "labels": ["a leaf", "a car"]})
    assert by_video.status_code == 200 and by_video.json() == by_segment.json()
