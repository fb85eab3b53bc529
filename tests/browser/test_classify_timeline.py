"""The classify page's timeline in headless Chromium against the real server: the band's blocks are the response's
runs, placed over the video's length, coloured per label with a legend; an indexed video's blocks open its watch
page at their start; what the server sends is shown as text."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import needs_chromium, open_page, screenshot
from tests.test_cli_timeline import make_halves, splitting_labels

pytestmark = [pytest.mark.browser, needs_chromium]


def blocks_of(page) -> list[dict]:
    return page.locator("#action-band .action-block").evaluate_all(
        """els => els.map(e => {
          const box = e.parentElement.getBoundingClientRect();
          return {label: e.dataset.label, start: Number(e.dataset.start), end: Number(e.dataset.end),
                  segments: Number(e.dataset.segments), href: e.getAttribute('href'), text: e.textContent,
                  colour: getComputedStyle(e).backgroundColor, left: box.left, width: box.width};
        })"""
    )


def band_box(page) -> dict:
    return page.locator("#action-band").bounding_box()


def classify_with_timeline(page):
    page.check("#timeline")
    page.click("#classify-button")
    page.wait_for_selector("#classify-timeline:not([hidden]) .action-block")
    page.wait_for_function("document.querySelector('#classify-status').dataset.state === 'ok'")


def test_an_indexed_videos_blocks_are_its_runs_and_open_the_watch_page(page, base_url):
    open_page(page, base_url + "/classify")
    video_id = page.locator("#video-select option", has_text="blue_long.mp4").get_attribute("value")
    page.select_option("#video-select", video_id)
    page.fill("#labels", "sea, fire, a dog")
    page.click("#classify-button")  # timeline off: bars only, no band
    page.wait_for_selector("#classify-results .bar-row")
    assert page.locator("#classify-timeline").is_hidden()

    classify_with_timeline(page)
    body = {"video_id": int(video_id), "labels": ["sea", "fire", "a dog"], "timeline": True}
    expected = page.request.post(base_url + "/classify", data=body).json()["timeline"]
    blocks = blocks_of(page)
    assert [(b["label"], b["start"], b["end"], b["segments"]) for b in blocks] == [
        (r["label"], r["start"], r["end"], r["segments"]) for r in expected
    ]
    assert sum(b["segments"] for b in blocks) == 3 and blocks[-1]["end"] == 25
    assert all(b["href"] == f"/watch/{video_id}?t={b['start']:g}" for b in blocks)
    band = band_box(page)
    assert sum(b["width"] for b in blocks) == pytest.approx(band["width"], abs=2)
    assert page.locator("#action-end").inner_text() == "00:25"
    legend = page.locator("#action-legend .action-key")
    assert sorted(legend.evaluate_all("els => els.map(e => e.dataset.label)")) == sorted({b["label"] for b in blocks})
    page.locator("#action-band .action-block").first.click()
    page.wait_for_url(re.compile(rf"/watch/{video_id}\?t=0$"))


def test_an_uploads_band_splits_where_the_label_changes(page, base_url, _tiny_encoder, tmp_path):
    video = make_halves(tmp_path / "halves.mp4")
    # The test index's model: 4 frames, 10 s segments, so the red and the blue half are one segment each.
    labels, _ = splitting_labels(_tiny_encoder, video, [(0, 10), (10, 20)], 4)
    open_page(page, base_url + "/classify")
    page.set_input_files("#video-file", str(video))
    page.fill("#labels", ", ".join(labels))
    classify_with_timeline(page)
    blocks = blocks_of(page)
    assert [b["label"] for b in blocks] == labels or [b["label"] for b in blocks] == labels[::-1]
    assert [b["segments"] for b in blocks] == [1, 1] and all(b["href"] is None for b in blocks)  # no links
    band = band_box(page)
    first, second = blocks
    assert first["left"] == pytest.approx(band["x"], abs=1)
    assert second["left"] == pytest.approx(first["left"] + first["width"], abs=1)
    assert first["width"] == pytest.approx(band["width"] / 2, abs=3)  # 10 s of 20 s
    assert first["colour"] != second["colour"]
    keys = page.locator("#action-legend .action-key")
    swatches = keys.locator(".action-swatch").evaluate_all("els => els.map(e => getComputedStyle(e).backgroundColor)")
    assert dict(zip(keys.evaluate_all("els => els.map(e => e.dataset.label)"), swatches)) == {
        b["label"]: b["colour"] for b in blocks
    }
    assert re.fullmatch(r".+00:00–00:10 · \d+\.\d%", first["text"])
    screenshot(page, "classify-timeline")


def test_server_text_stays_text_and_a_segment_has_no_timeline(page, base_url):
    hostile = '<img src=x onerror="window.hacked=1">'
    runs = [
        {"start": 0, "end": 30, "label": hostile, "score": 0.2, "probability": 0.7, "segments": 3},
        {"start": 30, "end": 40, "label": "b", "score": 0.1, "probability": 0.6, "segments": 1},
    ]
    answer = {"labels": [{"label": hostile, "score": 0.2, "probability": 0.7}], "timeline": runs}
    open_page(page, base_url + "/classify")
    page.route("**/classify", lambda route: route.fulfill(status=200, json=answer))  # the page itself is loaded
    page.fill("#labels", f"{hostile}, b")
    classify_with_timeline(page)
    assert page.locator("#action-band img").count() == 0 and not page.evaluate("window.hacked")
    blocks = blocks_of(page)
    assert blocks[0]["label"] == hostile and blocks[0]["width"] == pytest.approx(band_box(page)["width"] * 0.75, abs=2)
    assert page.locator("#action-end").inner_text() == "00:40"

    # A linked segment is one block of its video: the page asks for a whole video instead of sending the request.
    page.unroute("**/classify")
    segment_id = page.request.get(base_url + "/search", params={"q": "x", "k": 1}).json()["results"][0]["segment_id"]
    open_page(page, f"{base_url}/classify?segment={segment_id}")
    page.fill("#labels", "a, b")
    page.check("#timeline")
    page.click("#classify-button")
    page.wait_for_selector("#classify-status.is-error")
    assert "whole video" in page.locator("#classify-status").inner_text()
