"""Browser fixtures: the real app served by uvicorn on a free loopback port, driven by headless Chromium.

Chromium is Debian's (/usr/bin/chromium; `.ci/run` installs it), driven through Playwright's Python package
with ``executable_path``: no browser download. Screenshots go to tests/artifacts/ (ignored by git).
"""

from __future__ import annotations

import io
import socket
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# Applied by each browser test module: skipped only where the browser itself is missing (CI installs it).
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"
)


def serve(index_dir: Path, encoder, **app_options) -> tuple[str, callable]:
    """Start the app for ``index_dir`` in a uvicorn thread on 127.0.0.1:<free port>; returns (base URL, stop).
    ``app_options`` go to ``create_app`` (``examples``, ``classify_template``)."""
    import uvicorn

    from app.main import create_app
    from app.services import VidseekService
    from app.settings import Settings

    settings = Settings(index_dir=index_dir, max_upload_mb=5)
    app = create_app(settings, VidseekService(settings, encoder=encoder), **app_options)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # the port is ours before uvicorn starts: no race for it
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)

    def stop():
        server.should_exit = True
        thread.join(10)
        sock.close()

    return f"http://127.0.0.1:{sock.getsockname()[1]}", stop


@pytest.fixture(scope="module")
def base_url(built_index, _tiny_encoder):
    url, stop = serve(built_index, _tiny_encoder)
    yield url
    stop()


@pytest.fixture(scope="module")
def empty_base_url(tmp_path_factory, _tiny_encoder):
    """A server whose index dir holds no index yet."""
    url, stop = serve(tmp_path_factory.mktemp("no-index"), _tiny_encoder)
    yield url
    stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser, request):
    """A fresh page (own history, cookies) at desktop size; fails the test on any uncaught script error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"script errors on the page: {errors}"


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def open_page(page, url: str):
    """Go to ``url`` and wait until the page's script has wired its handlers."""
    page.goto(url)
    page.wait_for_function("document.documentElement.dataset.ready === '1'")
    return page


def cards(page):
    """The result cards the page shows (not those the minimum score hides)."""
    return page.locator("#results .result:not([hidden])")


def wait_for_cards(page, n: int):
    """Wait until the page shows ``n`` cards and has stopped loading."""
    page.wait_for_function(
        "n => document.querySelectorAll('#results .result:not([hidden])').length === n "
        "&& document.querySelector('#status').dataset.state !== 'loading'",
        arg=n,
    )


def png(color=(220, 30, 30), size=(64, 48)) -> bytes:
    """A small solid-colour PNG picture."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()
