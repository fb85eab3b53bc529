"""The Jobs page in Chromium: a running job's progress moves without a reload (server-sent events from the job
store), a finished job says what it did, a rescan from the button runs a real build, a queued job is cancelled
from its button; every text is text, never markup."""

from __future__ import annotations

import shutil

import pytest

from indexer import JobStore
from tests.browser.conftest import needs_chromium, open_page, screenshot, serve

pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture()
def jobs_url(built_index, tmp_path, _tiny_encoder):
    index_dir = tmp_path / "index"
    shutil.copytree(built_index, index_dir, ignore=shutil.ignore_patterns("jobs.sqlite*"))  # others' tests' jobs
    url, stop = serve(index_dir, _tiny_encoder)
    yield url, index_dir
    stop()


def job(page, job_id: int):
    return page.locator(f"#jobs li[data-id='{job_id}']")


def test_a_running_jobs_progress_moves_live_and_its_end_is_shown(page, jobs_url):
    url, index_dir = jobs_url
    open_page(page, f"{url}/jobs/page")
    assert page.locator("nav a[aria-current=page]").inner_text() == "Jobs"
    assert page.locator("#no-jobs").is_visible()
    store = JobStore(index_dir)
    running, _ = store.request("<b>test</b> job")
    store.claim()  # claimed by this process: the server's runner leaves it to us
    store.progress(running.id, stage="indexing", done=3, total=10, files_done=1, files_total=4, eta_seconds=12)
    card = job(page, running.id)
    card.locator(".job-progress").wait_for()
    assert card.locator(".job-progress").inner_text() == "indexing: 3/10 segments · 1/4 files · ETA 12s"
    assert card.locator("progress").evaluate("p => [p.value, p.max]") == [3, 10]
    assert "<b>test</b> job" in card.locator(".job-title").inner_text()  # text, not markup
    store.progress(running.id, stage="indexing", done=7, total=10, files_done=3, files_total=4, eta_seconds=4)
    page.wait_for_function(f"document.querySelector(\"#jobs li[data-id='{running.id}'] progress\")?.value === 7")
    screenshot(page, "jobs-running")
    store.finish(running.id, "done", indexed=4, segments_embedded=10, moved=1, file_errors=[("bad.mp4", "not a video")])
    card.locator(".job-outcome").wait_for()
    assert card.locator(".job-outcome").inner_text() == "4 files indexed · 10 segments embedded · 1 moved or renamed"
    assert card.locator(".job-files summary").inner_text() == "1 file(s) could not be indexed"
    store.close()


def test_a_rescan_from_the_page_runs_a_build_and_a_queued_job_is_cancelled(page, jobs_url):
    url, index_dir = jobs_url
    open_page(page, f"{url}/jobs/page")
    page.click("#rescan")
    page.wait_for_function("document.querySelector('#jobs li[data-status=done]') !== null", timeout=120_000)
    card = page.locator("#jobs li[data-status=done]").first
    assert "0 segments embedded" in card.locator(".job-outcome").inner_text()  # nothing changed in the library
    store = JobStore(index_dir)
    blocking, _ = store.request("held by the test")
    store.claim()  # one build at a time: the next job waits
    store.progress(blocking.id, stage="scanning")
    waiting, new = store.request("waits")
    assert new
    job(page, waiting.id).locator("button[data-action=cancel]").click()
    page.wait_for_function(f"document.querySelector(\"#jobs li[data-id='{waiting.id}']\")?.dataset.status === 'cancelled'")
    assert job(page, waiting.id).locator("button[data-action=retry]").is_visible()
    store.finish(blocking.id, "cancelled")
    store.close()
