"""The real pages in headless Chromium against the real server: search as you type, max display and paging,
min score, more like this, query by picture (upload and drop), the player, classify, library, phone width,
keyboard, and the empty / error / no-index states. Assertions are on the DOM; screenshots are for people."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest

from tests.browser.conftest import cards, needs_chromium, open_page, png, screenshot, wait_for_cards

pytestmark = [pytest.mark.browser, needs_chromium]

TITLES = {"red.mp4", "green.mp4", "blue_long.mp4", "yellow.mov"}
SEGMENTS = 6  # in the test index: one per short clip, three for the 25 s one
TIME_RANGE = re.compile(r"^\d\d:\d\d–\d\d:\d\d$")


def query_of(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def scores(page) -> list[float]:
    return [float(s) for s in cards(page).locator(".score").all_inner_texts()]


def test_search_as_you_type_plays_the_matched_segments(page, base_url):
    open_page(page, base_url + "/")
    assert page.evaluate("document.activeElement.id") == "q"  # ready to type
    page.keyboard.type("a red clip", delay=20)
    wait_for_cards(page, SEGMENTS)
    assert query_of(page) == {"q": ["a red clip"], "k": ["8"]}
    assert page.title() == "a red clip · vidseek"
    assert page.locator("#status").inner_text().startswith(f"{SEGMENTS} results of {SEGMENTS} in")
    assert scores(page) == sorted(scores(page), reverse=True)
    for card in cards(page).all():
        assert card.locator(".title").inner_text() in TITLES
        assert TIME_RANGE.match(card.locator(".time").inner_text())
        video = card.locator("video")
        assert video.evaluate("v => v.muted && v.loop && v.autoplay")
        assert re.search(r"/thumbnails/\d+\.jpg$", video.get_attribute("poster"))
        start, end = float(card.get_attribute("data-start")), float(card.get_attribute("data-end"))
        assert video.evaluate("v => v.src").endswith(f"#t={start:g},{end:g}")
    # The second segment of the long clip plays from 00:10, not from the start of the file.
    middle = cards(page).filter(has_text="00:10–00:20").locator("video")
    page.wait_for_function("v => !v.paused && v.currentTime > 10.2", arg=middle.element_handle())
    assert 10 <= middle.evaluate("v => v.currentTime") < 20
    screenshot(page, "search-typed")

    # Enter searches at once with new words; back returns to the earlier query.
    page.fill("#q", "green")
    page.keyboard.press("Enter")
    page.wait_for_function("location.search.includes('q=green')")
    wait_for_cards(page, SEGMENTS)
    page.go_back()
    page.wait_for_function("location.search.includes('q=a+red+clip')")
    assert page.input_value("#q") == "a red clip"


def test_max_display_load_more_and_back(page, base_url):
    open_page(page, base_url + "/?q=blue&k=8")
    wait_for_cards(page, SEGMENTS)
    first = cards(page).locator(".title").all_inner_texts()
    page.select_option("#k", "4")
    wait_for_cards(page, 4)
    assert query_of(page)["k"] == ["4"]
    assert cards(page).locator(".title").all_inner_texts() == first[:4]
    page.click("#load-more")
    wait_for_cards(page, SEGMENTS)
    assert cards(page).locator(".title").all_inner_texts() == first
    assert page.locator("#load-more").is_hidden()  # nothing more to load
    page.go_back()
    page.wait_for_function("new URLSearchParams(location.search).get('k') === '8'")
    assert page.input_value("#k") == "8"
    wait_for_cards(page, SEGMENTS)


def test_min_score_slider_hides_low_results(page, base_url):
    open_page(page, base_url + "/?q=blue")
    wait_for_cards(page, SEGMENTS)
    threshold = round(scores(page)[2] - 0.0005, 3)  # keep the top three
    page.locator("#min-score-range").evaluate(
        "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); }", str(threshold)
    )
    page.wait_for_function("new URLSearchParams(location.search).has('min_score')")
    page.wait_for_selector("#status[data-state=ok]")
    shown = scores(page)
    assert shown and all(s >= float(page.input_value("#min-score")) for s in shown)
    assert len(shown) < SEGMENTS
    assert page.locator("#status").inner_text().startswith(f"{len(shown)} result")
    screenshot(page, "search-min-score")
    # Nothing scores 1: the empty state says what to do.
    page.fill("#min-score", "1")
    page.wait_for_selector("#status[data-state='empty']")
    assert "Lower the minimum score" in page.locator("#status").inner_text()
    page.click("#min-score-clear")
    wait_for_cards(page, SEGMENTS)


def test_more_like_this(page, base_url):
    open_page(page, base_url + "/?q=anything")
    wait_for_cards(page, SEGMENTS)
    first = cards(page).first
    segment_id, title = first.get_attribute("data-segment-id"), first.locator(".title").inner_text()
    first.locator(".like-button").click()
    page.wait_for_function("new URLSearchParams(location.search).has('like')")
    wait_for_cards(page, SEGMENTS - 1)  # everything but the segment itself
    assert query_of(page) == {"like": [segment_id], "k": ["8"]}
    assert segment_id not in [c.get_attribute("data-segment-id") for c in cards(page).all()]
    assert page.locator("#query-banner").is_visible()
    assert page.locator("#query-banner-text").inner_text().startswith(f"More like {title}")
    assert page.input_value("#q") == ""
    screenshot(page, "more-like-this")
    # The URL is shareable: opened afresh it shows the same results.
    other = page.context.new_page()
    open_page(other, page.url)
    wait_for_cards(other, SEGMENTS - 1)
    other.close()
    page.go_back()
    page.wait_for_function("location.search.includes('q=anything')")
    wait_for_cards(page, SEGMENTS)
    assert page.locator("#query-banner").is_hidden()


def test_query_by_picture_upload_and_drop(page, base_url, tmp_path):
    picture = tmp_path / "red-square.png"
    picture.write_bytes(png())
    open_page(page, base_url + "/")
    page.set_input_files("#image-input", str(picture))
    wait_for_cards(page, SEGMENTS)
    assert "red-square.png" in page.locator("#query-banner-text").inner_text()
    assert page.locator("#query-banner-image").evaluate("img => img.src.startsWith('blob:')")
    screenshot(page, "query-by-picture")

    # Dropping a picture anywhere on the page searches by it too.
    page.select_option("#k", "4")
    wait_for_cards(page, 4)
    drop = page.evaluate_handle(
        """bytes => {
            const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array(bytes)], 'dropped.png', {type: 'image/png'}));
            return dt;
        }""",
        list(png((230, 40, 30))),  # red again: no two segments of a video both match it, six moments to page over
    )
    page.dispatch_event("body", "dragenter", {"dataTransfer": drop})
    assert page.locator("#drop-overlay").is_visible()
    page.dispatch_event("body", "drop", {"dataTransfer": drop})
    page.wait_for_function("document.querySelector('#query-banner-text').textContent.includes('dropped.png')")
    wait_for_cards(page, 4)
    assert page.locator("#drop-overlay").is_hidden()
    page.click("#load-more")
    wait_for_cards(page, SEGMENTS)  # paging re-sends the picture

    # Not a picture: the page says so and keeps what it shows.
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    page.set_input_files("#image-input", str(text))
    page.wait_for_selector("#status.is-error")
    assert "not a picture" in page.locator("#status").inner_text()


def test_player_view_of_a_result(page, base_url):
    open_page(page, base_url + "/?q=blue")
    wait_for_cards(page, SEGMENTS)
    card = cards(page).filter(has_text="blue_long.mp4").filter(has_text="00:10–00:20")
    card.locator(".title").click()
    page.wait_for_url(re.compile(r"/watch/\d+\?t=10&segment=\d+&q=blue$"))
    page.wait_for_function("document.documentElement.dataset.ready === '1'")
    player = page.locator("#player")
    page.wait_for_function("v => v.readyState >= 2 && v.currentTime >= 10", arg=player.element_handle())
    assert 10 <= player.evaluate("v => v.currentTime") < 20
    assert player.evaluate("v => v.duration") == pytest.approx(25, abs=0.5)  # the whole video, not the segment
    assert page.locator("h1").inner_text() == "blue_long.mp4"
    segments = page.locator("#segments .segment")
    assert segments.locator(".seg-time").all_inner_texts() == ["00:00–00:10", "00:10–00:20", "00:20–00:25"]
    assert segments.nth(1).get_attribute("class").split() == ["segment", "is-matched"]
    page.wait_for_function("document.querySelectorAll('#segments .segment')[1].getAttribute('aria-current') === 'true'")
    screenshot(page, "player")
    segments.nth(2).locator("button.seek").click()
    page.wait_for_function("document.querySelector('#player').currentTime >= 20")
    assert segments.nth(2).locator(".like-link").get_attribute("href").startswith("/?like=")
    page.click("#back-link")
    page.wait_for_function("location.pathname === '/' && location.search.includes('q=blue')")
    wait_for_cards(page, SEGMENTS)


def test_keyboard_only(page, base_url):
    open_page(page, base_url + "/")
    page.click(".tagline")  # focus out of the search box
    assert page.evaluate("document.activeElement.id") != "q"
    page.keyboard.press("/")  # "/" jumps back to the search box
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("green")
    wait_for_cards(page, SEGMENTS)
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('.result a.title')"):
            break
    else:
        pytest.fail("Tab never reached a result")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "like-button"
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/watch/\d+"))


def test_classify_view(page, base_url, library):
    open_page(page, base_url + "/classify")
    red = page.locator("#video-select option", has_text="red.mp4").get_attribute("value")
    page.select_option("#video-select", red)
    page.fill("#labels", "red, green, blue")
    page.click("#classify-button")
    page.wait_for_selector("#classify-results .bar-row")
    rows = page.locator("#classify-results .bar-row")
    assert sorted(rows.locator(".bar-label").all_inner_texts()) == ["blue", "green", "red"]
    probabilities = [float(r.get_attribute("data-probability")) for r in rows.all()]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) == pytest.approx(1, abs=1e-3)
    widths = rows.locator(".bar-fill").evaluate_all("els => els.map(e => e.getBoundingClientRect().width)")
    assert widths == sorted(widths, reverse=True) and widths[0] > widths[-1] > 0
    assert page.locator("#classify-status").inner_text().startswith("Most likely: ")
    screenshot(page, "classify")

    # Upload a video instead; the file input picks its option by itself.
    page.set_input_files("#video-file", str(library / "green.mp4"))
    assert page.is_checked("input[name=source][value=upload]")
    page.fill("#labels", "a lawn, a fire truck")
    page.click("#classify-button")
    page.wait_for_function("document.querySelectorAll('#classify-results .bar-row').length === 2")
    # A bad template is refused with the server's reason.
    page.fill("#template", "no slot here")
    page.click("#classify-button")
    page.wait_for_selector("#classify-status.is-error")
    assert "template" in page.locator("#classify-status").inner_text()


def test_library_page(page, base_url):
    page.goto(base_url + "/library")
    rows = page.locator("#videos tbody tr")
    assert sorted(rows.locator(".video-link").all_inner_texts()) == sorted(TITLES)
    counts = dict(zip(rows.locator(".video-link").all_inner_texts(), rows.locator(".segments-count").all_inner_texts()))
    assert counts == {"red.mp4": "1", "green.mp4": "1", "blue_long.mp4": "3", "yellow.mov": "1"}
    failed = page.locator("#failed li")
    assert failed.count() == 1 and failed.locator(".path").inner_text() == "corrupt.mp4"
    assert failed.locator(".error").inner_text().strip()
    assert page.locator("#manifest [data-field=model]").inner_text() == "vidseek-tiny"
    assert page.locator("#manifest [data-field=count]").inner_text() == str(SEGMENTS)
    assert page.locator("#manifest [data-field=frames]").inner_text() == "4"
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$", page.locator("#manifest [data-field=created]").inner_text())
    screenshot(page, "library")
    rows.filter(has_text="blue_long.mp4").locator(".video-link").click()
    page.wait_for_selector("#segments .segment >> nth=2")


def test_phone_width(page, base_url):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(base_url + "/library")
    watch = page.locator("#videos .video-link").first.get_attribute("href")
    for path in ("/?q=red&k=4", "/library", "/classify", watch):
        page.goto(base_url + path)
        if path.startswith("/?"):
            wait_for_cards(page, 4)
            screenshot(page, "phone-search")
            box = cards(page).first.bounding_box()
            assert box["width"] >= 150
        if path == watch:
            screenshot(page, "phone-player")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at phone width"
    page.goto(base_url + "/?q=red&k=4")
    wait_for_cards(page, 4)
    assert page.locator("#image-button").is_visible() and page.locator("#min-score-range").is_visible()


def test_error_states(page, base_url, empty_base_url):
    # A server error: the status line says what failed and what to do.
    page.route("**/search?*", lambda route: route.fulfill(status=500, json={"detail": "boom"}))
    open_page(page, base_url + "/")
    page.fill("#q", "red")
    page.wait_for_selector("#status.is-error")
    assert page.locator("#status").inner_text() == "Search failed: boom Try again; if it keeps failing, look at the server's log."
    assert cards(page).count() == 0
    page.unroute("**/search?*")
    # An unknown segment in a shared "more like this" link.
    open_page(page, base_url + "/?like=999999")
    page.wait_for_selector("#status.is-error")
    assert "no segment 999999" in page.locator("#status").inner_text()
    # No index yet: the page says how to build one, and so does a search.
    open_page(page, empty_base_url + "/")
    assert page.locator("#no-index").is_visible()
    assert "vidseek index build" in page.locator("#no-index").inner_text()
    page.fill("#q", "red")
    page.wait_for_selector("#status.is-error")
    assert "vidseek index build" in page.locator("#status").inner_text()
    screenshot(page, "no-index")
    page.goto(empty_base_url + "/library")
    assert page.locator("#no-index").is_visible()


def test_a_query_of_spaces_is_never_sent_and_the_page_says_why(page, base_url):
    sent = []
    # the API's /search only: the page's own scripts (/static/js/search.js) load from another path
    page.on("request", lambda request: sent.append(request.url) if urlparse(request.url).path.startswith("/search") else None)
    hint = "Spaces alone are not a search: type some words, or pick a picture."
    open_page(page, base_url + "/?q=%20%20%20")  # a shared link, or the no-script form
    assert page.locator("#status").inner_text() == hint and page.input_value("#q") == "   "
    page.fill("#q", "")
    assert page.locator("#status").inner_text() == ""  # the hint goes with the spaces
    page.keyboard.type("  ", delay=20)
    page.wait_for_timeout(600)  # past the typing debounce: still nothing sent
    assert page.locator("#status").inner_text() == hint
    page.keyboard.press("Enter")
    assert page.locator("#status").inner_text() == hint and sent == [] and cards(page).count() == 0
    page.keyboard.type("red")
    wait_for_cards(page, SEGMENTS)
    assert len(sent) == 1 and "q=red" in sent[0]


def test_the_api_docs_render_with_no_way_out_of_the_server(page, base_url):
    outside = []

    def refuse(route):
        outside.append((route.request.resource_type, route.request.url))
        route.abort()

    page.route(lambda url: not url.startswith(base_url), refuse)
    page.goto(base_url + "/docs")
    page.wait_for_selector(".swagger-ui .info .title:has-text('vidseek')")
    page.wait_for_selector(".swagger-ui .opblock-summary-path:has-text('/search')")
    screenshot(page, "api-docs")
    page.goto(base_url + "/redoc")
    page.wait_for_selector("redoc h1:has-text('vidseek')")
    # Only ReDoc's "API docs by Redocly" badge is an image from its CDN: offline, it is just not drawn.
    assert [url for kind, url in outside if kind != "image"] == []
