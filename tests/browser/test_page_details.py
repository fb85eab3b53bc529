"""What the page scripts (templates/static/js/) do that the end-to-end tour in test_pages.py does not reach: the
clock format (held to app/present.py's), cards for hour-long videos and untrusted values, the search and classify
error lines, example chips, the server's prompt template, paste, reduced motion and an unplayable video."""

from __future__ import annotations

import json
import math

import pytest

from app.present import clock
from tests.browser.conftest import cards, needs_chromium, open_page, png, serve, wait_for_cards

pytestmark = [pytest.mark.browser, needs_chromium]

SEGMENTS = 6  # in the test index
CLOCK_SECONDS = [0, 0.4, 9.99, 59.999, 60, 75, 599, 3599.9, 3600, 3725, 36000, 86399, 360000.5, -5]
EXAMPLES = ["a red clip", "blue"]
DEMO_TEMPLATE = "a video of {}, in colour."


def hit(segment_id=7, start=3725.0, end=3735.5, **extra):
    """One result as GET /search answers it (an hour into a long video)."""
    return {
        "segment_id": segment_id,
        "video_id": 3,
        "title": "lecture.mp4",
        "start": start,
        "end": end,
        "score": 0.5,
        "video_url": "/videos/3",
        "thumbnail_url": f"/thumbnails/{segment_id}.jpg",
        **extra,
    }


def answer_with(page, body: dict, status: int = 200):
    """Answer every GET /search with ``body`` (no server involved)."""
    page.route("**/search?*", lambda route: route.fulfill(status=status, json=body))


@pytest.fixture(scope="module")
def demo_url(built_index, _tiny_encoder):
    """A server started as `vidseek demo` starts one: example queries and its own prompt template."""
    url, stop = serve(built_index, _tiny_encoder, examples=EXAMPLES, classify_template=DEMO_TEMPLATE)
    yield url
    stop()


def test_the_page_clock_is_the_server_clock(page, base_url):
    open_page(page, base_url + "/")
    written = page.evaluate(
        """async seconds => {
            const {clock, clockRange} = await import('/static/js/format.js');
            return [...seconds.map(s => clock(s)), clock(NaN), clock(Infinity), clock(null), clock(undefined),
                    clockRange(75, 3725)];
        }""",
        CLOCK_SECONDS,
    )
    expected = [clock(s) for s in CLOCK_SECONDS] + [clock(math.nan), clock(math.inf), clock(None), "–"]
    assert written == expected + ["01:15–1:02:05"]
    assert written[CLOCK_SECONDS.index(75)] == "01:15" and written[CLOCK_SECONDS.index(3725)] == "1:02:05"


def test_a_card_of_an_hour_long_video(page, base_url):
    answer_with(page, {"query": "talk", "took_ms": 3.14, "total": 1, "results": [hit()]})
    open_page(page, base_url + "/?q=talk")
    wait_for_cards(page, 1)
    card = cards(page).first
    assert card.locator(".time").inner_text() == "1:02:05–1:02:15"
    assert card.locator(".badge").inner_text() == "1:02:05–1:02:15"
    assert card.get_attribute("aria-label") == "lecture.mp4, 1:02:05–1:02:15, score 0.500"
    title = card.locator("a.title")
    assert title.get_attribute("title") == "lecture.mp4: open the player at 1:02:05"
    assert title.get_attribute("href").endswith("/watch/3?t=3725&segment=7&q=talk")  # the player draws the words' strip
    assert card.locator("video").evaluate("v => v.src").endswith("/videos/3#t=3725,3735.5")
    assert page.locator("#status").inner_text() == "1 result of 1 in 3.1 ms"


def test_values_from_the_server_are_text_and_checked_urls(page, base_url):
    evil = hit(title="<img src=x onerror=alert(1)>", video_url="javascript:alert(1)", thumbnail_url="data:x")
    answer_with(page, {"query": "x", "took_ms": 12.3, "total": 1, "results": [evil, evil]})  # a repeat is one card
    open_page(page, base_url + "/?q=x")
    wait_for_cards(page, 1)
    card = cards(page).first
    assert card.locator(".title").inner_text() == "<img src=x onerror=alert(1)>"
    assert card.locator("img").count() == 0
    video = card.locator("video")
    assert video.get_attribute("src") is None and video.get_attribute("poster") is None
    assert page.locator("#status").inner_text() == "1 result of 1 in 12 ms"


def test_more_like_a_segment_an_hour_in(page, base_url):
    answer_with(page, {"query": "", "mode": "like", "like": hit(), "took_ms": 1, "total": 1, "results": [hit(8, 10, 20)]})
    open_page(page, base_url + "/?like=7")
    wait_for_cards(page, 1)
    assert page.locator("#query-banner-text").inner_text() == "More like lecture.mp4 · 1:02:05–1:02:15"
    assert page.title() == "More like this · vidseek"


@pytest.mark.parametrize(
    ("fulfil", "status_line"),
    [
        (
            lambda route: route.abort(),
            "Search failed: could not reach the server. Check that 'vidseek serve' is running, then try again.",
        ),
        (
            lambda route: route.fulfill(status=200, body="<html>a proxy page</html>", content_type="text/html"),
            "Search failed: the server sent an unexpected response. Reload the page and try again.",
        ),
        (
            lambda route: route.fulfill(status=422, json={"detail": [{"loc": ["query", "k"], "msg": "too big"}]}),
            "Search failed: k: too big",
        ),
        (
            lambda route: route.fulfill(status=502, body="", content_type="text/plain"),
            "Search failed: HTTP 502 Bad Gateway Try again; if it keeps failing, look at the server's log.",
        ),
    ],
    ids=["unreachable", "not-json", "validation", "no-detail"],
)
def test_search_failures_say_what_happened(page, base_url, fulfil, status_line):
    page.route("**/search?*", fulfil)
    open_page(page, base_url + "/")
    page.fill("#q", "red")
    page.keyboard.press("Enter")
    page.wait_for_selector("#status.is-error")
    assert page.locator("#status").inner_text() == status_line


def test_escape_empties_the_box_and_an_invalid_min_score_stops_a_search(page, base_url):
    open_page(page, base_url + "/")
    page.fill("#q", "red")
    page.keyboard.press("Escape")
    assert page.input_value("#q") == ""
    page.fill("#q", "red")
    page.fill("#min-score", "7")
    assert page.get_attribute("#min-score", "aria-invalid") == "true"
    page.keyboard.press("Enter")
    assert page.locator("#status").inner_text() == "Minimum score must be a number between -1 and 1."
    assert page.evaluate("document.activeElement.id") == "min-score"


def test_example_chips_search(page, demo_url):
    open_page(page, demo_url + "/")
    chips = page.locator("#examples button[data-query]")
    assert chips.all_inner_texts() == EXAMPLES
    chips.nth(1).click()
    wait_for_cards(page, SEGMENTS)
    assert page.input_value("#q") == "blue" and "q=blue" in page.url


def test_a_pasted_picture_searches(page, base_url):
    open_page(page, base_url + "/")
    page.evaluate(
        """bytes => {
            const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array(bytes)], 'pasted.png', {type: 'image/png'}));
            document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true}));
        }""",
        list(png((30, 200, 40))),
    )
    wait_for_cards(page, SEGMENTS)
    assert "pasted.png" in page.locator("#query-banner-text").inner_text()
    assert page.title() == "Picture search · vidseek"
    page.click("#query-clear")  # back to an empty box
    assert page.locator("#query-banner").is_hidden() and cards(page).count() == 0
    assert page.evaluate("document.activeElement.id") == "q"


def test_reduced_motion_plays_a_clip_on_hover_only(page, base_url):
    page.emulate_media(reduced_motion="reduce")
    open_page(page, base_url + "/?q=blue&k=4")
    wait_for_cards(page, 4)
    video = cards(page).first.locator("video")
    page.wait_for_timeout(500)
    assert video.evaluate("v => !v.autoplay && v.paused")
    cards(page).first.hover()
    page.wait_for_function("v => !v.paused", arg=video.element_handle())


def test_classify_says_what_is_missing(page, base_url):
    open_page(page, base_url + "/classify")
    page.fill("#labels", " , ")
    page.click("#classify-button")
    assert page.locator("#classify-status").inner_text() == "Enter at least one label, e.g. “cooking, dancing”."
    assert page.evaluate("document.activeElement.id") == "labels"
    page.fill("#labels", "red, blue")
    page.check("input[name=source][value=upload]")
    page.click("#classify-button")
    assert page.locator("#classify-status").inner_text() == "Choose a video file to upload, or pick an indexed video."
    assert page.evaluate("document.activeElement.id") == "video-file"


@pytest.mark.parametrize(
    ("fulfil", "status_line"),
    [
        (
            lambda route: route.abort(),
            "Classification failed: could not reach the server. Check that 'vidseek serve' is running.",
        ),
        (
            lambda route: route.fulfill(status=413, json={"detail": "the upload is over 5 MB"}),
            "Classification failed: the upload is over 5 MB. Upload a shorter or smaller video.",
        ),
        (
            lambda route: route.fulfill(status=404, json={"detail": "no video 3"}),
            "Classification failed: no video 3.",
        ),
    ],
    ids=["unreachable", "too-large", "not-found"],
)
def test_classify_failures_say_what_happened(page, base_url, fulfil, status_line):
    open_page(page, base_url + "/classify")
    page.route("**/classify", fulfil)  # after the page itself, at the same path, has loaded
    page.fill("#labels", "red, blue")
    page.click("#classify-button")
    page.wait_for_selector("#classify-status.is-error")
    assert page.locator("#classify-status").inner_text() == status_line
    assert page.locator("#classify-results .bar-row").count() == 0
    assert page.is_enabled("#classify-button")


@pytest.mark.parametrize("server", ["base_url", "demo_url"])
def test_an_emptied_template_sends_the_server_default(page, request, server):
    from models.prompts import DEFAULT_TEMPLATE

    default = DEMO_TEMPLATE if server == "demo_url" else DEFAULT_TEMPLATE
    open_page(page, request.getfixturevalue(server) + "/classify")
    assert page.input_value("#template") == default
    page.fill("#labels", "red, blue")
    page.fill("#template", "  ")
    with page.expect_request("**/classify") as sent:
        page.click("#classify-button")
    assert json.loads(sent.value.post_data)["template"] == default
    page.wait_for_selector("#classify-status[data-state=ok]")


def test_an_unplayable_video_says_so(page, base_url):
    """Even when the video fails before the page's module has loaded (a 404 answers at once)."""
    page.goto(base_url + "/library")
    watch = page.locator("#videos .video-link").first.get_attribute("href")
    page.route("**/videos/*", lambda route: route.fulfill(status=404, body=""))
    open_page(page, base_url + watch)
    page.wait_for_selector("#player-error:not([hidden])")
    assert page.locator("#player-error").inner_text().startswith("This video cannot be played here")
