"""The stylesheets of templates/static/css/: every page loads each one it links, in the order base.html gives,
and their rules reach the page (a file missing from the list or the package would unstyle part of it silently)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.conftest import needs_chromium

pytestmark = [pytest.mark.browser, needs_chromium]

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
LINKED = re.findall(r'<link rel="stylesheet" href="\{\{ static_url\|e \}\}/([^"]+)">', (TEMPLATES / "base.html").read_text())


def test_base_links_every_stylesheet_in_the_folder():
    assert LINKED[0] == "css/base.css" and LINKED[-1] == "css/overrides.css"  # the cascade relies on both ends
    assert sorted(LINKED) == sorted(f"css/{p.name}" for p in (TEMPLATES / "static" / "css").glob("*.css"))


@pytest.mark.parametrize("path", ["/", "/library", "/classify"])
def test_each_page_loads_the_stylesheets_in_order(page, base_url, path):
    answers = {}
    page.on("response", lambda r: answers.__setitem__(r.url, (r.status, r.headers.get("content-type", ""))))
    page.goto(base_url + path)
    page.wait_for_load_state("load")
    sheets = page.evaluate(
        "[...document.styleSheets].filter(s => s.href).map(s => [new URL(s.href).pathname, s.cssRules.length])"
    )
    assert [href for href, _ in sheets] == [f"/static/{name}" for name in LINKED]
    assert all(rules > 0 for _, rules in sheets), sheets
    for name in LINKED:
        status, kind = answers[f"{base_url}/static/{name}"]
        assert status == 200 and kind.startswith("text/css"), (name, status, kind)
    # A rule from the first file (body is a flex column) and one from the last (reduced motion) both apply.
    assert page.evaluate("getComputedStyle(document.body).display") == "flex"
    page.emulate_media(reduced_motion="reduce")
    assert page.evaluate("getComputedStyle(document.body).transitionDuration") == "1e-05s"
