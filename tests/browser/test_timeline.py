"""Moments and "where in this video" in Chromium: a search's card links carry its words to the player page, whose
strip under the player has one cell per segment (widths in proportion to their durations, coloured by score) and
seeks where a cell is clicked; "Group by video" shows one card per video with its moments as links, in the URL and
back again with the back button.

The library is conftest's: red, green and yellow clips of one segment each and blue_long.mp4, 25 s in segments of
10 s: 0-10, 10-20, 20-25, adjacent. The tiny test model's scores mean nothing by name, so the searches here say
what matches with ``min_score=-1`` (every segment): blue_long's three then merge into one moment."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest

from tests.browser.conftest import cards, needs_chromium, open_page, screenshot, wait_for_cards

pytestmark = [pytest.mark.browser, needs_chromium]

WORDS = "a blue clip"


def test_the_player_from_a_search_shows_the_words_score_along_the_video(page, base_url):
    open_page(page, f"{base_url}/?q={WORDS.replace(' ', '+')}&k=8&min_score=-1")
    wait_for_cards(page, 4)  # six segments, blue_long's three one moment
    blue = cards(page).filter(has_text="blue_long.mp4")
    assert blue.count() == 1 and blue.get_attribute("data-segments") == "3"
    assert blue.locator(".badge").text_content() == "00:00–00:25"
    href = blue.locator("a.title").get_attribute("href")
    assert parse_qs(urlparse(href).query)["q"] == [WORDS]
    blue.locator("a.title").click()
    page.wait_for_url(re.compile(r"/watch/\d+\?"))
    page.wait_for_function("document.querySelector('#timeline')?.dataset.state === 'ready'")
    cells = page.locator("#timeline .timeline-cell")
    assert cells.count() == 3 == page.locator("#segments .segment").count()
    widths = [box["width"] for box in (cells.nth(i).bounding_box() for i in range(3))]
    assert widths[0] == pytest.approx(widths[1], rel=0.05) and widths[2] == pytest.approx(widths[0] / 2, rel=0.1)
    colours = {cells.nth(i).evaluate("c => getComputedStyle(c).backgroundColor") for i in range(3)}
    assert len(colours) > 1  # coloured by score, low to high
    assert page.locator("#timeline .timeline-cell.is-best").count() == 1
    assert page.locator("#timeline .timeline-cell.is-moment").count() == 3  # the moment the search found
    player = page.locator("#player")
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    cells.nth(2).click()
    page.wait_for_function("Math.abs(document.getElementById('player').currentTime - 20) < 0.5")
    page.wait_for_function("document.querySelectorAll('#timeline .timeline-cell')[2].getAttribute('aria-current') === 'true'")
    cells.nth(1).click()
    page.wait_for_function("Math.abs(document.getElementById('player').currentTime - 10) < 0.5")
    assert player.evaluate("p => p.paused") in (True, False)  # the page is still the player's
    screenshot(page, "timeline-watch")


def test_the_player_without_words_has_no_strip(page, base_url):
    open_page(page, f"{base_url}/?q=red&k=8&min_score=-1")
    wait_for_cards(page, 4)
    video_id = cards(page).first.get_attribute("data-video-id")
    open_page(page, f"{base_url}/watch/{video_id}")
    assert page.locator("#timeline").count() == 0


def test_group_by_video_shows_one_card_per_video_with_its_moments(page, base_url):
    open_page(page, f"{base_url}/?q=a+clip&k=8&min_score=-1")
    wait_for_cards(page, 4)
    page.locator("#group").check()
    page.wait_for_function("document.querySelectorAll('#results .result.is-video').length === 4")
    wait_for_cards(page, 4)
    assert "group=video" in page.url
    titles = cards(page).locator("a.title").all_text_contents()
    assert sorted(titles) == ["blue_long.mp4", "green.mp4", "red.mp4", "yellow.mov"]
    blue = cards(page).filter(has_text="blue_long.mp4")
    moments = blue.locator(".moments a.moment")
    assert moments.count() == 1 and moments.first.text_content() == "00:00–00:25"
    link = parse_qs(urlparse(moments.first.get_attribute("href")).query)
    assert link["q"] == ["a clip"] and link["t"] == ["0"]
    screenshot(page, "timeline-group-by-video")
    page.go_back()
    page.wait_for_function("!document.getElementById('group').checked")
    wait_for_cards(page, 4)
    assert page.locator("#results .result.is-video").count() == 0
    page.go_forward()
    page.wait_for_function("document.getElementById('group').checked")
    page.wait_for_function("document.querySelectorAll('#results .result.is-video').length === 4")
    page.reload()
    page.wait_for_function("document.documentElement.dataset.ready === '1'")
    assert page.locator("#group").is_checked()
    page.wait_for_function("document.querySelectorAll('#results .result.is-video').length === 4")
    moments.first.click()
    page.wait_for_url(re.compile(r"/watch/\d+\?"))
    page.wait_for_function("document.querySelector('#timeline')?.dataset.state === 'ready'")
    assert page.locator("#timeline .timeline-cell").count() == 3
