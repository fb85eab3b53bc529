"""Every file of a real library plays in Chromium (issue 17's done-when): an MPEG-4 Part 2 AVI, an MPEG-2 .mpg, an
HEVC .mkv and an H.264 .mts, none of which Chromium plays as they are, and a photo, indexed by a real build (its
preview stage included). Each grid clip advances its currentTime and shows its own file's colour, the photo shows,
the watch page plays each video from the time asked, and hovering a card or the player's scrub bar shows a frame of
its sprite sheet. Screenshots: tests/artifacts/formats-*.png."""

from __future__ import annotations

import pytest

from tests.browser.conftest import cards, needs_chromium, open_page, screenshot, serve, wait_for_cards
from tests.formats import SAMPLES, write_library

pytestmark = [pytest.mark.browser, needs_chromium]

VIDEOS = ("mpeg4.avi", "mpeg2.mpg", "hevc.mkv", "camcorder.mts")
PHOTO = "photo.jpg"
SECONDS = 6.0

# The colour in the top-left corner of the frame a <video> shows now, read from a canvas (same origin: not tainted).
CORNER = """v => { const c = document.createElement('canvas'); c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d'); g.drawImage(v, 0, 0); return Array.from(g.getImageData(4, 4, 1, 1).data.slice(0, 3)); }"""
ADVANCES = """async v => { const t0 = v.currentTime; await new Promise(r => setTimeout(r, 700));
  return [t0, v.currentTime, v.paused, v.readyState]; }"""


@pytest.fixture(scope="module")
def site(tmp_path_factory, _tiny_encoder):
    """The library indexed with the build's defaults (previews auto) and served; yields (base URL, ids by name)."""
    from indexer import open_index
    from indexer.pipeline.local import build_index
    from indexer.pipeline.options import BuildOptions

    root = tmp_path_factory.mktemp("formats")
    library, index_dir = root / "library", root / "index"
    library.mkdir()
    write_library(library, names=[*VIDEOS, PHOTO], seconds=SECONDS)
    report = build_index(_tiny_encoder, BuildOptions(library, index_dir, frames=2, workers=2, progress=False))
    assert report.indexed == 5 and report.previews == 4 and not report.failed and not report.preview_failed
    reader = open_index(index_dir)
    ids = {v.title: v.video_id for v in reader.video_records()}
    reader.close()
    url, stop = serve(index_dir, _tiny_encoder)
    yield url, ids
    stop()


def close(colour, expected, tolerance=40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected))


def test_every_result_plays_in_the_grid_and_the_photo_shows(page, site):
    url, ids = site
    open_page(page, url + "/?q=a+coloured+square&k=10")
    wait_for_cards(page, 5)
    for name in VIDEOS:
        card = cards(page).and_(page.locator(f"[data-video-id='{ids[name]}']"))
        video = card.locator("video")
        assert video.evaluate("v => new URL(v.src).pathname") == f"/previews/{ids[name]}.mp4"
        page.wait_for_function("v => v.readyState >= 2 && v.currentTime > 0.2", arg=video.element_handle(), timeout=20_000)
        t0, t1, paused, _ = video.evaluate(ADVANCES)
        assert not paused and t1 > t0, f"{name}: currentTime {t0} -> {t1}"
        assert close(video.evaluate(CORNER), SAMPLES[name].colour), f"{name} shows another file's frames"
    photo = cards(page).and_(page.locator(f"[data-video-id='{ids[PHOTO]}']"))
    assert photo.locator("video").count() == 0
    image = photo.locator("img")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    screenshot(page, "formats-grid")


@pytest.mark.parametrize("name", VIDEOS)
def test_the_watch_page_plays_each_file_from_the_time_asked(page, site, name):
    url, ids = site
    open_page(page, f"{url}/watch/{ids[name]}?t=3")
    player = page.locator("#player")
    page.wait_for_function(
        "v => v.readyState >= 2 && v.currentTime >= 3 && !v.paused", arg=player.element_handle(), timeout=20_000
    )
    t0, t1, paused, _ = player.evaluate(ADVANCES)
    assert 3.0 <= t0 < t1 <= SECONDS + 0.1 and not paused
    assert close(player.evaluate(CORNER), SAMPLES[name].colour)
    assert page.locator("#player-error").is_hidden()
    screenshot(page, f"formats-watch-{name.replace('.', '-')}")


def test_hover_scrubbing_shows_a_sprite_frame(page, site):
    url, ids = site
    name = "hevc.mkv"
    open_page(page, url + "/?q=a+coloured+square&k=10")
    wait_for_cards(page, 5)
    card = cards(page).and_(page.locator(f"[data-video-id='{ids[name]}']"))
    box = card.locator(".media").bounding_box()
    page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + box["height"] / 2)
    overlay = card.locator(".scrub")
    page.wait_for_function("el => !el.hidden && el.dataset.scrubTime", arg=overlay.element_handle())
    assert float(overlay.get_attribute("data-scrub-time")) == pytest.approx(SECONDS / 2, abs=0.6)
    sheet = card.locator(".scrub-frame").evaluate("f => f.style.backgroundImage")
    assert f"/sprites/{ids[name]}.jpg" in sheet
    # The sheet really loads and its tile there is the file's colour.
    colour = page.evaluate(
        """async ([src, tile]) => { const img = new Image(); img.src = src; await img.decode();
          const [x, y] = tile.split(',').map(Number); const c = document.createElement('canvas');
          c.width = img.naturalWidth; c.height = img.naturalHeight; const g = c.getContext('2d'); g.drawImage(img, 0, 0);
          return Array.from(g.getImageData(x + 2, y + 2, 1, 1).data.slice(0, 3)); }""",
        [f"/sprites/{ids[name]}.jpg", overlay.get_attribute("data-scrub-tile")],
    )
    assert close(colour, SAMPLES[name].colour)
    screenshot(page, "formats-scrub-card")

    open_page(page, f"{url}/watch/{ids[name]}?t=1")
    bar = page.locator(".scrub-bar")
    bar_box = bar.bounding_box()
    page.mouse.move(bar_box["x"] + 0.75 * bar_box["width"], bar_box["y"] + bar_box["height"] / 2)
    tip = page.locator(".scrub-tip")
    page.wait_for_function("el => !el.hidden && el.dataset.scrubTime", arg=tip.element_handle())
    assert float(tip.get_attribute("data-scrub-time")) == pytest.approx(0.75 * SECONDS, abs=0.6)
    screenshot(page, "formats-scrub-player")
