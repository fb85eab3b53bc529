"""Moments, videos and "where in this video": GET /search merges adjacent matching segments of one video into a
moment (group=moment, the default), lists one row per video with its moments (group=video) or keeps one row per
segment (group=segment); GET /search/timeline scores the words along a whole video.

The index is synthetic: each segment's vector has a chosen cosine with the words' own text vector, so which segments
match (above ``min_score``), which touch and what each moment scores are known. Filler videos (300 segments scoring
at most 0.3) make the library larger than the first candidate pool (``POOL_BLOCK``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.services import VidseekService
from app.services.search import POOL_BLOCK, TOUCH_SECONDS, Hit, candidate_pool, match_floor, moments_of, videos_of
from app.settings import Settings
from indexer.decoders import VideoInfo
from indexer.index_dir.records import PHOTO_KIND, VIDEO_KIND, SegmentRecord
from indexer.index_dir.writer import IndexWriter
from indexer.pipeline.options import BuildOptions, manifest_for
from indexer.segment import Segment, plan_segments

WORDS = "a red car"
# name -> (kind, duration, the cosine of each 10 s segment with WORDS)
DESIGNED = {
    "a.mp4": (VIDEO_KIND, 50.0, [0.9, 0.8, -0.5, 0.7, 0.6]),  # two moments at 0.5: 0-20 and 30-50
    "b.mp4": (VIDEO_KIND, 30.0, [0.85, 0.1, 0.75]),  # its matches are not adjacent: two moments of one segment
    "c.mp4": (VIDEO_KIND, 20.0, [0.55, 0.95]),  # one moment 0-20 scoring 0.95
    "p.jpg": (PHOTO_KIND, 1.0, [0.65]),
}
FILLERS, FILLER_SEGMENTS = 60, 5
MIN = 0.5


def with_cosine(query: np.ndarray, scores: list[float], rng) -> np.ndarray:
    """Unit rows whose cosine with the unit ``query`` is each of ``scores``."""
    rows = []
    for a in scores:
        u = rng.normal(size=query.shape)
        u -= (u @ query) * query
        u /= np.linalg.norm(u)
        rows.append(a * query + np.sqrt(1 - a * a) * u)
    return np.asarray(rows, dtype=np.float32)


@pytest.fixture(scope="module")
def moments_index(_tiny_encoder, tmp_path_factory) -> tuple[Path, dict[str, list[int]], dict[int, np.ndarray]]:
    """The index, each designed file's segment ids (time order) and every segment's vector by id."""
    index_dir = tmp_path_factory.mktemp("moments")
    writer = IndexWriter(index_dir, manifest_for(_tiny_encoder, BuildOptions(Path("/synthetic"), index_dir)), index_type="flat")
    query = _tiny_encoder.encode_text([WORDS])[0].astype(np.float64)
    rng = np.random.default_rng(7)
    files = {name: spec for name, spec in DESIGNED.items()}
    for f in range(FILLERS):
        files[f"filler{f:03d}.mp4"] = (VIDEO_KIND, 50.0, list(rng.uniform(-0.3, 0.3, size=FILLER_SEGMENTS)))
    ids_of, vectors = {}, {}
    for i, (name, (kind, duration, scores)) in enumerate(files.items()):
        segments = plan_segments(duration, 10.0) if kind == VIDEO_KIND else [Segment(0.0, 0.0)]
        assert len(segments) == len(scores)
        rows = with_cosine(query, scores, rng)
        info = VideoInfo(duration, 25.0, 64, 64, "h264" if kind == VIDEO_KIND else "mjpeg")
        ids = writer.add_video(f"/synthetic/{name}", f"fp{i}", 1, info, segments, rows, [], kind=kind)
        ids_of[name] = list(ids)
        vectors.update(zip(ids, rows))
    writer.publish()
    return index_dir, ids_of, vectors


@pytest.fixture(scope="module")
def service(moments_index, _tiny_encoder):
    return VidseekService(Settings(index_dir=moments_index[0], text_precision="float32"), encoder=_tiny_encoder)


@pytest.fixture(scope="module")
def client(moments_index, service):
    with TestClient(create_app(Settings(index_dir=moments_index[0], text_precision="float32"), service)) as c:
        yield c


def spans(results) -> list[tuple[str, float, float, int]]:
    return [(r["title"], r["start"], r["end"], r["segments"]) for r in results]


def test_adjacent_matches_of_one_video_are_one_moment(client, moments_index):
    _, ids_of, _ = moments_index
    body = client.get("/search", params={"q": WORDS, "k": 10, "min_score": MIN}).json()
    assert body["group"] == "moment"
    assert spans(body["results"]) == [
        ("c.mp4", 0.0, 20.0, 2),  # 0.55 and 0.95 touch: one moment with the better score
        ("a.mp4", 0.0, 20.0, 2),
        ("b.mp4", 0.0, 10.0, 1),  # b's 0-10 and 20-30 match but do not touch
        ("b.mp4", 20.0, 30.0, 1),
        ("a.mp4", 30.0, 50.0, 2),  # a's 20-30 scores -0.5: a's matches are two moments
        ("p.jpg", 0.0, 0.0, 1),
    ]
    np.testing.assert_allclose([r["score"] for r in body["results"]], [0.95, 0.9, 0.85, 0.75, 0.7, 0.65], atol=1e-4)
    # A moment keeps its best segment's id (poster, "more like this"); a's 0-20 at 0.9 is its first segment.
    assert body["results"][0]["segment_id"] == ids_of["c.mp4"][1] and body["results"][1]["segment_id"] == ids_of["a.mp4"][0]
    assert body["results"][0]["thumbnail_url"] == f"/thumbnails/{ids_of['c.mp4'][1]}.jpg"
    assert body["total"] == 6  # every matching segment is a candidate: the count is exact


def test_moments_page_over_one_list(client):
    full = client.get("/search", params={"q": WORDS, "k": 6, "min_score": MIN}).json()["results"]
    for offset in range(0, 6, 2):
        page = client.get("/search", params={"q": WORDS, "k": 2, "offset": offset, "min_score": MIN}).json()
        assert spans(page["results"]) == spans(full[offset : offset + 2]) and page["total"] == 6
    # Without a minimum every segment matches; pages within the first block are cut from the same candidates.
    first = client.get("/search", params={"q": WORDS, "k": 16}).json()
    pages = [client.get("/search", params={"q": WORDS, "k": 8, "offset": o}).json() for o in (0, 8)]
    assert spans(pages[0]["results"] + pages[1]["results"]) == spans(first["results"])
    assert {p["total"] for p in pages} == {first["total"]}
    segments = 5 + 3 + 2 + 1 + FILLERS * FILLER_SEGMENTS
    assert len(first["results"]) == 16 and first["total"] <= segments


def test_group_segment_keeps_one_row_per_segment(client):
    body = client.get("/search", params={"q": WORDS, "k": 20, "min_score": MIN, "group": "segment"}).json()
    assert body["group"] == "segment" and body["total"] == 9 and len(body["results"]) == 9
    assert {r["segments"] for r in body["results"]} == {1}
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)


def test_group_video_lists_each_video_once_with_its_moments(client, moments_index):
    _, ids_of, _ = moments_index
    body = client.get("/search", params={"q": WORDS, "k": 10, "min_score": MIN, "group": "video"}).json()
    assert body["group"] == "video" and body["total"] == 4
    rows = body["results"]
    assert [r["title"] for r in rows] == ["c.mp4", "a.mp4", "b.mp4", "p.jpg"]
    a = rows[1]
    assert [(m["start"], m["end"], m["segments"]) for m in a["moments"]] == [(0.0, 20.0, 2), (30.0, 50.0, 2)]
    assert [m["segment_id"] for m in a["moments"]] == [ids_of["a.mp4"][0], ids_of["a.mp4"][3]]
    assert (a["start"], a["end"], a["segment_id"]) == (0.0, 20.0, ids_of["a.mp4"][0])  # the row is its best moment
    np.testing.assert_allclose(a["score"], 0.9, atol=1e-4)
    assert [(m["start"], m["end"]) for m in rows[2]["moments"]] == [(0.0, 10.0), (20.0, 30.0)]
    page = client.get("/search", params={"q": WORDS, "k": 2, "offset": 2, "min_score": MIN, "group": "video"}).json()
    assert [r["title"] for r in page["results"]] == ["b.mp4", "p.jpg"]
    moments = client.get("/search", params={"q": WORDS, "k": 10, "min_score": MIN}).json()["results"]
    assert all(r["moments"] is None for r in moments)


def test_more_like_this_and_kind_group_too(client, moments_index):
    _, ids_of, _ = moments_index
    like = ids_of["a.mp4"][0]
    body = client.get("/search", params={"like": like, "k": 50, "min_score": 0.99}).json()
    assert body["mode"] == "like" and body["results"] == [] and body["total"] == 0  # itself left out
    photos = client.get("/search", params={"q": WORDS, "k": 5, "kind": "photo", "group": "video"}).json()
    assert [r["title"] for r in photos["results"]] == ["p.jpg"] and photos["total"] == 1


def test_timeline_scores_every_segment_by_its_stored_vector(client, service, moments_index):
    _, ids_of, vectors = moments_index
    video_id = client.get("/search", params={"q": WORDS, "k": 1, "group": "video", "min_score": 0.9}).json()["results"][0][
        "video_id"
    ]
    body = client.get("/search/timeline", params={"q": f"  {WORDS} ", "video_id": video_id}).json()
    assert body["video_id"] == video_id and body["query"] == WORDS and body["title"] == "c.mp4"
    assert [s["segment_id"] for s in body["segments"]] == ids_of["c.mp4"]
    assert [(s["start"], s["end"]) for s in body["segments"]] == [(0.0, 10.0), (10.0, 20.0)]
    text = service.queries.encode(WORDS)
    want = [float(vectors[i] @ text) for i in ids_of["c.mp4"]]
    np.testing.assert_allclose([s["score"] for s in body["segments"]], want, atol=1e-5)
    np.testing.assert_allclose(want, DESIGNED["c.mp4"][2], atol=1e-4)


def test_timeline_moments_are_the_video_s_among_the_candidates(client, moments_index):
    _, ids_of, _ = moments_index
    a = client.get("/search", params={"q": WORDS, "k": 10, "group": "video"}).json()["results"]
    row = next(r for r in a if r["title"] == "a.mp4")
    body = client.get("/search/timeline", params={"q": WORDS, "video_id": row["video_id"]}).json()
    assert len(body["segments"]) == 5
    # a's 20-30 (-0.5) ranks below the first POOL_BLOCK candidates (300 fillers score -0.3 or more): two moments.
    assert [(m["start"], m["end"]) for m in body["moments"]] == [(0.0, 20.0), (30.0, 50.0)]
    assert body["moments"] == row["moments"]


def test_timeline_refuses_an_unknown_video_and_bad_words(client, moments_index):
    _, ids_of, _ = moments_index
    video_id = client.get("/search", params={"q": WORDS, "k": 1}).json()["results"][0]["video_id"]
    assert client.get("/search/timeline", params={"q": WORDS, "video_id": 999_999}).status_code == 404
    assert "no indexed video" in client.get("/search/timeline", params={"q": WORDS, "video_id": 999_999}).json()["detail"]
    for bad in ("   ", "a\x00b", "x" * 1001):
        assert client.get("/search/timeline", params={"q": bad, "video_id": video_id}).status_code == 422, bad
    assert client.get("/search/timeline", params={"video_id": video_id}).status_code == 422
    assert client.get("/search/timeline", params={"q": WORDS, "video_id": -1}).status_code == 422
    assert client.get("/search/timeline", params={"q": WORDS, "video_id": "x"}).status_code == 422


def record(video_id: int, start: float, end: float, segment_id: int) -> SegmentRecord:
    return SegmentRecord(segment_id, video_id, f"/v{video_id}.mp4", start, end)


def test_moments_of_merges_touching_segments_of_one_video_only():
    hits = [
        Hit(record(1, 10.0, 20.0, 11), 0.9),
        Hit(record(2, 20.0, 30.0, 21), 0.8),  # another video at the neighbouring time: not merged
        Hit(record(1, 20.0 + TOUCH_SECONDS / 2, 30.0, 12), 0.7),  # touches 10-20 within a frame
        Hit(record(1, 0.0, 10.0, 10), 0.6),  # touches 10-20 from before
        Hit(record(1, 30.5, 40.0, 13), 0.5),  # half a second after 30: not touching
    ]
    moments = moments_of(hits)
    assert [(m.segment.segment_id, m.start, m.end, m.segments, m.score) for m in moments] == [
        (11, 0.0, 30.0, 3, 0.9),
        (21, 20.0, 30.0, 1, 0.8),
        (13, 30.5, 40.0, 1, 0.5),
    ]
    rows = videos_of(moments)
    assert [[m.segment.segment_id for m in row.moments] for row in rows] == [[11, 13], [21]]
    assert moments_of([]) == []


def test_candidate_pool_is_one_block_for_the_first_pages():
    assert {candidate_pool(w) for w in range(1, POOL_BLOCK // 4 + 1)} == {POOL_BLOCK}
    assert candidate_pool(POOL_BLOCK // 4 + 1) == 2 * POOL_BLOCK
    assert candidate_pool(10**6) == candidate_pool(10**7)  # capped


def test_without_min_score_only_strong_neighbours_merge():
    """In a small library every segment is a candidate; a weak neighbour must not stretch a moment to the whole video."""
    hits = [
        Hit(record(1, 0.0, 10.0, 10), 0.9),
        Hit(record(1, 10.0, 20.0, 11), 0.8),
        Hit(record(1, 20.0, 30.0, 12), 0.2),  # touches 10-20 but scores below the floor: a row of its own
        Hit(record(1, 30.0, 40.0, 13), 0.1),  # and so does its weak neighbour
    ]
    floor = match_floor([h.score for h in hits])
    assert floor == pytest.approx((0.9 + 0.5) / 2)
    moments = moments_of(hits, floor)
    assert [(m.segment.segment_id, m.start, m.end, m.segments) for m in moments] == [
        (10, 0.0, 20.0, 2),
        (12, 20.0, 30.0, 1),
        (13, 30.0, 40.0, 1),
    ]
    assert len(moments_of(hits)) == 1  # no floor (a min_score said every candidate matches): one moment


def test_a_search_without_min_score_keeps_weak_segments_apart(client):
    """b.mp4's 0.1 segment sits between its two matches: without a min_score it is still no bridge."""
    rows = client.get("/search", params={"q": WORDS, "k": 40}).json()["results"]
    b = [(r["start"], r["end"], r["segments"]) for r in rows if r["title"] == "b.mp4"]
    assert (0.0, 10.0, 1) in b and (20.0, 30.0, 1) in b and all(n == 1 for _, _, n in b)


def test_the_cli_groups_as_the_api_does(moments_index, capsys):
    from app import cli
    from app.cli.query import SEARCH_GROUPS
    from app.services.search import GROUPS

    assert SEARCH_GROUPS == GROUPS and GROUPS[0] == "moment"  # the CLI's default is the API's
    index_dir = str(moments_index[0])
    args = ["search", WORDS, "-k", "3", "--index-dir", index_dir]
    assert cli.main([*args, "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["group"] == "moment" and spans(body["results"])[0] == ("c.mp4", 0.0, 20.0, 2)
    assert cli.main([*args, "--group", "video"]) == 0
    first, *rows = capsys.readouterr().out.splitlines()
    assert first.startswith("3 of ") and " videos in " in first
    assert "00:00-00:20, 00:30-00:50" in next(row for row in rows if "a.mp4" in row)  # a video's moments, best first
