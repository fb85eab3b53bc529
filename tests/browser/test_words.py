"""Words beside pixels in Chromium: where the index holds words the page offers "Match: Pixels and words · Pixels ·
Words", a card matched by words shows its snippet with the matched words marked (as text, never HTML), and the
URL carries the choice."""

from __future__ import annotations

import pytest

from tests.browser.conftest import cards, needs_chromium, open_page, screenshot, serve, wait_for_cards
from tests.indexer.test_words import build, make_library
from tests.videos import make_video

pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture(scope="module")
def words_url(tmp_path_factory, _tiny_encoder):
    root = tmp_path_factory.mktemp("words")
    library = make_library(root)
    (library / "talks" / "evil.srt").write_text("")  # no video of that name: nobody's sidecar
    (library / "films" / "subbed.en.srt").write_text(
        "00:00:01,000 --> 00:00:02,000\n<b>bold</b> &lt;img src=x onerror=alert(1)&gt;\n"
    )
    make_video(library / "archive" / "lecture.mp4", 6, codec="mpeg4", color=(90, 90, 90))
    build(library, root / "index", _tiny_encoder, None)
    url, stop = serve(root / "index", _tiny_encoder)
    yield url
    stop()


def rows(page, url: str, **params) -> int:
    """How many cards the page should show: what GET /search answers it."""
    return len(page.request.get(f"{url}/search", params={"k": 8, "group": "moment", **params}).json()["results"])


def test_a_card_matched_by_words_shows_its_snippet(page, words_url):
    open_page(page, f"{words_url}/?q=xylophone&k=8")
    shown = rows(page, words_url, q="xylophone")
    assert shown >= 3
    wait_for_cards(page, shown)
    assert page.locator("#mode").input_value() == ""  # pixels and words, the default
    first = cards(page).first
    assert "interview.mp4" in first.locator("a.title").inner_text()
    snippet = first.locator(".snippet")
    assert snippet.locator(".snippet-source").inner_text().lower() == "subtitles"
    assert snippet.locator("mark").all_inner_texts() == ["xylophone"]
    assert "the xylophone plays" in snippet.inner_text()
    assert first.locator(".time").inner_text() == "00:10–00:20"  # the cue's segment, 12-15 s
    screenshot(page, "words-snippet")

    page.select_option("#mode", "text")
    page.wait_for_function("location.search.includes('mode=text')")
    wait_for_cards(page, 1)
    assert "interview.mp4" in cards(page).first.inner_text()
    page.go_back()
    page.wait_for_function("document.getElementById('mode').value === ''")
    wait_for_cards(page, shown)


def test_snippets_are_text_never_markup(page, words_url):
    open_page(page, f"{words_url}/?q=onerror&mode=text")
    wait_for_cards(page, 1)
    snippet = cards(page).first.locator(".snippet")
    assert "<img src=x onerror=alert(1)>" in snippet.inner_text()
    assert snippet.locator("img").count() == 0 and snippet.locator("b").count() == 0
    assert page.locator("#mode").input_value() == "text"  # the URL's choice, shown


def test_filters_narrow_the_grid_and_live_in_the_url(page, words_url):
    open_page(page, f"{words_url}/?q=a+clip&k=8")
    shown = rows(page, words_url, q="a clip")
    wait_for_cards(page, shown)
    page.click("#filters summary")
    page.fill("[data-filter=folder]", "talks")
    page.press("[data-filter=folder]", "Enter")
    page.wait_for_function("location.search.includes('folder=talks')")
    talks = rows(page, words_url, q="a clip", folder="talks")
    wait_for_cards(page, talks)
    assert {t.strip() for t in cards(page).locator("a.title").all_inner_texts()} == {"interview.mp4"}
    page.select_option("[data-filter=has_subtitles]", "false")
    page.wait_for_function("location.search.includes('has_subtitles=false')")
    wait_for_cards(page, 0)  # the only video in talks has subtitles
    screenshot(page, "words-filters")
    page.go_back()
    page.wait_for_function("document.querySelector('[data-filter=has_subtitles]').value === ''")
    wait_for_cards(page, talks)
    # The codec filter offers the library's codecs; the folder field suggests its folders.
    assert page.locator("#folder-choices option").evaluate_all("os => os.map(o => o.value)") == [
        "archive", "films", "holidays", "talks"
    ]  # fmt: skip
    page.fill("[data-filter=folder]", "")
    page.press("[data-filter=folder]", "Enter")
    page.select_option("[data-filter=codec]", "mpeg4")
    page.wait_for_function("location.search.includes('codec=mpeg4') && !location.search.includes('folder=')")
    wait_for_cards(page, rows(page, words_url, q="a clip", codec="mpeg4"))
    assert {t.strip() for t in cards(page).locator("a.title").all_inner_texts()} == {"lecture.mp4"}
    # A link with filters opens with them shown (and the disclosure open), and a bad one says why.
    open_page(page, f"{words_url}/?q=a+clip&sort=duration&min_duration=10")
    assert page.locator("#filters").get_attribute("open") is not None
    assert page.locator("[data-filter=sort]").input_value() == "duration"
    wait_for_cards(page, rows(page, words_url, q="a clip", sort="duration", min_duration=10))
    open_page(page, f"{words_url}/?q=a+clip&after=soon")
    page.wait_for_selector("#status.is-error")
