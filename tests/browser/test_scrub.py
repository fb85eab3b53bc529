"""Scrubbing over sprite sheets (templates/static/js/scrub.js) and the media a page plays: a card shows the tile for
the pointer's time across it, the player's scrub bar shows the tile and clock time and seeks, the player plays a
video's preview (and falls back to the original when the preview fails), and a photo gets a picture, not a player."""

from __future__ import annotations

import re

import pytest
from PIL import Image

from tests.app.test_media_formats import TILE, sprite_sheet, sprite_track
from tests.browser.conftest import cards, needs_chromium, open_page, screenshot, serve, wait_for_cards
from tests.videos import make_video

pytestmark = [pytest.mark.browser, needs_chromium]

SECONDS = 3  # the clip, its preview and its track: one tile a second


@pytest.fixture(scope="module")
def scrub_site(tmp_path_factory, _tiny_encoder):
    """A clip with a preview and a sprite sheet, one without, and a photo, indexed and served; yields (base URL, ids
    by name)."""
    from indexer import Manifest, current_generation
    from indexer.index_dir.layout import MANIFEST, preview_path, sprite_paths
    from indexer.index_dir.writer import IndexWriter
    from indexer.pipeline.local import build_index
    from indexer.pipeline.options import BuildOptions

    root = tmp_path_factory.mktemp("scrub")
    library, index_dir = root / "lib", root / "index"
    make_video(library / "clip.mp4", SECONDS, color=(200, 30, 30))
    make_video(library / "plain.mp4", SECONDS, color=(200, 200, 30))  # no preview, no sprites
    Image.new("RGB", (120, 90), (10, 200, 10)).save(library / "leaf.png")
    build_index(_tiny_encoder, BuildOptions(library, index_dir, frames=2, workers=1, progress=False, previews="off"))
    writer = IndexWriter(index_dir, Manifest.read(current_generation(index_dir) / MANIFEST))
    videos = {v.path.rsplit("/", 1)[-1]: v for v in writer.indexed_videos()}
    clip = videos["clip.mp4"]
    preview = make_video(preview_path(index_dir, clip.id), SECONDS, color=(30, 30, 200))  # blue: not the original
    sheet, track = sprite_paths(index_dir, clip.id)
    sheet.write_bytes(sprite_sheet([(250, 0, 0), (0, 250, 0), (0, 0, 250)]))
    track.write_text(sprite_track(clip.id, SECONDS))
    writer.record_previews(clip, preview.stat().st_size, sheet.stat().st_size + track.stat().st_size)
    writer.publish()
    url, stop = serve(index_dir, _tiny_encoder)
    yield url, {name: v.id for name, v in videos.items()}
    stop()


def offsets(style_value: str) -> list[float]:
    """'-170.67px 0px' -> [-170.67, 0.0]"""
    return [float(v) for v in re.findall(r"-?[\d.]+(?=px)", style_value)]


def test_a_card_shows_the_tile_of_the_time_under_the_pointer(page, scrub_site):
    url, ids = scrub_site
    tracks = []
    page.on("request", lambda r: tracks.append(r.url) if r.url.endswith(".vtt") else None)
    open_page(page, url + "/?q=a+clip&k=4")
    wait_for_cards(page, 3)
    assert page.locator(f"[data-video-id='{ids['plain.mp4']}'] .scrub").count() == 0  # nothing to scrub over
    card = cards(page).and_(page.locator(f"[data-video-id='{ids['clip.mp4']}']"))
    assert card.locator("video").evaluate("v => v.src").endswith(f"/previews/{ids['clip.mp4']}.mp4#t=0,3")
    media = card.locator(".media")
    box = media.bounding_box()
    overlay = card.locator(".scrub")
    assert overlay.is_hidden()
    for fraction, tile in ((0.25, "0,0,32,24"), (0.75, "64,0,32,24")):
        page.mouse.move(box["x"] + fraction * box["width"], box["y"] + box["height"] / 2)
        shown = "([el, tile]) => !el.hidden && el.dataset.scrubTile === tile"
        page.wait_for_function(shown, arg=[overlay.element_handle(), tile])
        assert float(overlay.get_attribute("data-scrub-time")) == pytest.approx(fraction * SECONDS, abs=0.02)
    frame = card.locator(".scrub-frame")
    scale = frame.evaluate("f => f.getBoundingClientRect().height") / TILE[1]
    assert scale == pytest.approx(min(box["width"] / TILE[0], box["height"] / TILE[1]), rel=0.01)  # fits the card
    assert offsets(frame.evaluate("f => f.style.backgroundPosition")) == pytest.approx([-64 * scale, 0], abs=0.02)
    assert offsets(frame.evaluate("f => f.style.backgroundSize")) == pytest.approx([96 * scale, 24 * scale], abs=0.02)
    assert f"/sprites/{ids['clip.mp4']}.jpg" in frame.evaluate("f => f.style.backgroundImage")
    assert overlay.locator(".scrub-time").inner_text() == "00:02"
    screenshot(page, "scrub-card")
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] + 60)  # off the card
    page.wait_for_function("el => el.hidden", arg=overlay.element_handle())
    page.mouse.move(box["x"] + 5, box["y"] + 5)  # back again: the track is not fetched twice
    page.wait_for_function("el => !el.hidden && el.dataset.scrubTile === '0,0,32,24'", arg=overlay.element_handle())
    assert len(tracks) == 1


def test_a_photo_card_shows_its_picture_and_links_to_its_view(page, scrub_site):
    url, ids = scrub_site
    open_page(page, url + "/?q=a+leaf&k=4")
    wait_for_cards(page, 3)
    card = cards(page).and_(page.locator("[data-kind=photo]"))
    assert card.locator("video").count() == 0 and card.locator(".scrub").count() == 0
    img = card.locator(".media img.photo")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())
    assert card.locator(".media").get_attribute("href").endswith(f"/watch/{ids['leaf.png']}")
    assert card.locator(".badge").inner_text() == "photo"
    card.locator("a.title").click()
    page.wait_for_url(re.compile(rf"/watch/{ids['leaf.png']}$"))
    photo = page.locator("#photo")
    page.wait_for_function("img => img.complete && img.naturalWidth === 120", arg=photo.element_handle())
    assert page.locator(".like-link").get_attribute("href").startswith("/?like=")
    screenshot(page, "photo")
    assert page.locator("#player-error").is_hidden()


def test_the_scrub_bar_shows_the_tile_and_time_and_seeks_the_player(page, scrub_site):
    url, ids = scrub_site
    open_page(page, url + f"/watch/{ids['clip.mp4']}")
    player = page.locator("#player")
    page.wait_for_function("v => v.readyState >= 1", arg=player.element_handle())
    assert player.evaluate("v => v.currentSrc").endswith(f"/previews/{ids['clip.mp4']}.mp4#t=0")
    bar = page.locator("#scrub-bar")
    box = bar.bounding_box()
    assert box["width"] == pytest.approx(player.bounding_box()["width"], abs=1)  # as wide as the player
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tip = bar.locator(".scrub")
    page.wait_for_function("el => !el.hidden && el.dataset.scrubTile === '32,0,32,24'", arg=tip.element_handle())
    assert float(tip.get_attribute("data-scrub-time")) == pytest.approx(SECONDS / 2, abs=0.05)
    assert tip.locator(".scrub-time").inner_text() == "00:01"
    tip_box = tip.bounding_box()
    assert tip_box["y"] + tip_box["height"] <= box["y"] + 1  # above the bar, not over it
    screenshot(page, "scrub-bar")
    player.evaluate("v => { window.seeks = []; v.addEventListener('seeking', () => seeks.push(v.currentTime)); }")
    page.mouse.click(box["x"] + 0.8 * box["width"], box["y"] + box["height"] / 2)
    page.wait_for_function("seeks.length === 1")
    assert page.evaluate("seeks[0]") == pytest.approx(0.8 * SECONDS, abs=0.05)
    assert bar.evaluate("b => b === document.activeElement")
    page.keyboard.press("Home")  # the bar is a slider: the keys seek too
    page.wait_for_function("seeks.length === 2")
    assert page.evaluate("seeks[1]") == 0


def test_a_preview_that_fails_falls_back_to_the_original(page, scrub_site):
    url, ids = scrub_site
    page.route("**/previews/*", lambda route: route.fulfill(status=404, body=""))
    open_page(page, url + f"/watch/{ids['clip.mp4']}?t=1")
    player = page.locator("#player")
    page.wait_for_function("v => v.currentSrc.includes('/videos/') && v.readyState >= 1", arg=player.element_handle())
    assert re.search(rf"/videos/{ids['clip.mp4']}#t=[\d.]+$", player.evaluate("v => v.currentSrc"))
    assert page.locator("#player-error").is_hidden()


@pytest.mark.parametrize(
    ("name", "blocked", "says"),
    [
        ("plain.mp4", ["**/videos/*"], "'vidseek index build --previews auto' (the default) makes it a preview"),
        ("clip.mp4", ["**/videos/*", "**/previews/*"], "neither its preview nor the original loaded"),
    ],
    ids=["no-preview", "preview-and-original"],
)
def test_a_video_that_cannot_play_says_why_and_offers_the_original(page, scrub_site, name, blocked, says):
    url, ids = scrub_site
    for pattern in blocked:
        page.route(pattern, lambda route: route.fulfill(status=415, body=""))
    open_page(page, url + f"/watch/{ids[name]}")
    error = page.locator("#player-error")
    error.wait_for(state="visible")
    assert error.inner_text().startswith("This video cannot be played here") and says in error.inner_text()
    assert error.locator("a").get_attribute("href").endswith(f"/videos/{ids[name]}")
    assert (page.locator("#scrub-bar").count() == 1) == (name == "clip.mp4")
