"""A live library, end to end: a real `vidseek serve --watch` over a library that changes while it serves. A video
copied in becomes searchable within 30 s; a file still being written is not indexed until it settles; a renamed
file keeps its segment ids (its job embeds nothing); a deleted one disappears; two rescan requests at once make one
build; a cancelled build leaves the previous index serving."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest

from indexer import current_generation
from tests.indexer.test_words import build
from tests.liveserver import running_server
from tests.videos import make_video

SETTLE = 1.0


@pytest.fixture(scope="module")
def live(tmp_path_factory, _tiny_encoder):
    root = tmp_path_factory.mktemp("live")
    library = root / "lib"
    make_video(library / "red.mp4", 6, color=(220, 30, 30))
    make_video(library / "blue.mp4", 6, color=(30, 30, 220))
    build(library, root / "index", _tiny_encoder, None, frames=2)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VIDSEEK_RELOAD_INTERVAL_S": "0.3"}
    args = ("--watch", "--settle-seconds", str(SETTLE))
    with running_server(root / "index", env, args=args) as (base, _):
        with httpx.Client(base_url=base, timeout=30) as client:
            yield client, library, root


def titles(client) -> dict[str, list[int]]:
    """Every indexed video's title and segment ids, as a search over the whole index lists them."""
    body = client.get("/search", params={"q": "a clip", "k": 100, "group": "segment", "mode": "visual"}).json()
    found: dict[str, list[int]] = {}
    for row in body["results"]:
        found.setdefault(row["title"], []).append(row["segment_id"])
    return {title: sorted(ids) for title, ids in found.items()}


def wait_for(what, timeout: float = 60.0, every: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {timeout:.0f}s: {what.__doc__ or what}")


def idle(client) -> list[dict]:
    """Wait until no job is queued or running; the jobs."""

    def quiet():
        jobs = client.get("/jobs").json()["jobs"]
        return (jobs,) if all(j["status"] not in ("queued", "running") for j in jobs) else None

    return wait_for(quiet, 120)[0]


def test_a_copied_video_is_searchable_within_30s(live):
    client, library, root = live
    assert set(titles(client)) == {"red.mp4", "blue.mp4"}
    make_video(root / "green.mp4", 6, color=(30, 200, 40))
    started = time.monotonic()
    shutil.copy(root / "green.mp4", library / "green.mp4")
    wait_for(lambda: "green.mp4" in titles(client), 30)
    took = time.monotonic() - started
    job = idle(client)[0]
    assert job["status"] == "done" and job["indexed"] == 1 and job["reason"].endswith("change(s) in the library")
    print(f"copied video searchable after {took:.1f}s")


def test_a_file_still_being_written_is_not_indexed_until_it_settles(live):
    client, library, root = live
    idle(client)
    make_video(root / "slow.mp4", 6, color=(200, 200, 30))
    data = (root / "slow.mp4").read_bytes()
    step = len(data) // 40 + 1
    writing = threading.Event()
    writing.set()

    def write_slowly():  # 40 pieces, 0.3 s apart: 12 s of writing, never quiet for the settle time
        with open(library / "slow.mp4", "wb") as out:
            for i in range(0, len(data), step):
                out.write(data[i : i + step])
                out.flush()
                time.sleep(SETTLE * 0.3)
        writing.clear()

    writer = threading.Thread(target=write_slowly)
    writer.start()
    try:
        time.sleep(SETTLE)
        job = client.post("/jobs/index").json()["job"]  # a rescan while it is written: the build leaves it for later
        finished = wait_for(lambda: (j := client.get(f"/jobs/{job['id']}").json())["status"] == "done" and j, 90)
        assert writing.is_set(), "the rescan came too late to meet the file being written"
        assert "1 file(s) still being written" in finished["summary"] and finished["indexed"] == 0
        assert not finished["file_errors"] and "slow.mp4" not in titles(client)
    finally:
        writer.join()
    wait_for(lambda: "slow.mp4" in titles(client), 60)


def test_a_renamed_file_keeps_its_segment_ids_and_its_job_embeds_nothing(live):
    client, library, _ = live
    idle(client)
    before = titles(client)
    (library / "red.mp4").rename(library / "crimson.mp4")
    after = wait_for(lambda: (t := titles(client)) and "crimson.mp4" in t and t, 60)
    assert "red.mp4" not in after and after["crimson.mp4"] == before["red.mp4"]
    job = idle(client)[0]
    assert (job["status"], job["moved"], job["segments_embedded"], job["indexed"]) == ("done", 1, 0, 0)


def test_a_deleted_file_disappears(live):
    client, library, _ = live
    idle(client)
    (library / "blue.mp4").unlink()
    wait_for(lambda: "blue.mp4" not in titles(client), 60)
    job = idle(client)[0]
    assert (job["removed"], job["segments_embedded"]) == (1, 0)


def test_two_rescan_requests_at_once_make_one_build(live):
    client, _, _ = live
    before = len(idle(client))
    answers: list[dict] = []
    threads = [threading.Thread(target=lambda: answers.append(client.post("/jobs/index").json())) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({a["job"]["id"] for a in answers}) == 1 and sorted(a["new"] for a in answers) == [False, True]
    jobs = idle(client)
    assert len(jobs) == before + 1 and jobs[0]["status"] == "done" and jobs[0]["segments_embedded"] == 0


def test_cancelling_a_job_leaves_the_previous_index_serving(live):
    client, library, root = live
    idle(client)
    generation = current_generation(root / "index").name  # what the server serves once it has looked again
    wait_for(lambda: client.get("/healthz").json()["generation"] == generation, 10)
    served = titles(client)
    for i in range(24):
        make_video(root / "batch" / f"clip{i:02d}.mp4", 30, color=(10 * i, 100, 250 - 10 * i))
    shutil.copytree(root / "batch", library / "batch")

    def indexing():
        jobs = client.get("/jobs").json()["jobs"]
        return next((j for j in jobs if j["status"] == "running" and j["stage"] == "indexing"), None)

    job = wait_for(indexing, 90, every=0.1)
    cancelling = client.post(f"/jobs/{job['id']}/cancel").json()
    assert cancelling["cancel_requested"]
    ended = wait_for(lambda: (j := client.get(f"/jobs/{job['id']}").json())["status"] in ("cancelled", "done") and j, 60)
    assert ended["status"] == "cancelled", ended
    assert client.get("/healthz").json()["generation"] == generation and titles(client) == served
    assert client.post(f"/jobs/{job['id']}/retry").status_code == 200  # and a retry brings the files in
    wait_for(lambda: "clip23.mp4" in titles(client), 120)


def test_job_requests_need_the_api_key_when_one_is_set(tmp_path, _tiny_encoder):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.services import VidseekService
    from app.settings import Settings

    settings = Settings(index_dir=tmp_path / "index", api_key="s3cret")
    with TestClient(create_app(settings, VidseekService(settings, encoder=_tiny_encoder))) as client:
        assert client.get("/jobs").json() == {"jobs": []}
        for path in ("/jobs/index", "/jobs/1/cancel", "/jobs/1/retry"):
            assert client.post(path).status_code == 401, path
        answer = client.post("/jobs/index", headers={"X-API-Key": "s3cret"})
        assert answer.status_code == 409 and "build one first" in answer.json()["detail"]
        assert client.post("/jobs/1/cancel", headers={"X-API-Key": "s3cret"}).status_code == 404
        assert client.get("/jobs/0").status_code == 422 and client.get("/jobs/5").status_code == 404
        assert not Path(tmp_path / "index" / "jobs.sqlite").exists()  # asking made no store
