"""The action timeline: the merge rule as a pure function, and POST /classify with ``timeline`` for an indexed video
(its stored segment vectors, in order) and for an upload (cut as the index cuts videos)."""

from __future__ import annotations

import itertools

import pytest

from app.services.classify import TimelineRun, merge_runs
from indexer import open_index


def ranking(top: str, score: float, probability: float, other: str = "zz") -> list[tuple[str, float, float]]:
    return [(top, score, probability), (other, score / 2, 1 - probability)]


def test_runs_of_the_same_top_label_merge_with_mean_scores():
    spans = [(0, 10), (10, 20), (20, 30), (30, 35)]
    rankings = [ranking("a", 0.3, 0.6), ranking("a", 0.1, 0.8), ranking("b", 0.2, 0.7), ranking("b", 0.4, 0.9)]
    assert merge_runs(spans, rankings) == [
        TimelineRun(0, 20, "a", pytest.approx(0.2), pytest.approx(0.7), 2),
        TimelineRun(20, 35, "b", pytest.approx(0.3), pytest.approx(0.8), 2),
    ]


def test_a_label_that_comes_back_is_a_new_run():
    spans = [(0, 1), (1, 2), (2, 3)]
    runs = merge_runs(spans, [ranking("a", 0.1, 0.5), ranking("b", 0.2, 0.6), ranking("a", 0.3, 0.7)])
    assert [(r.start, r.end, r.label, r.segments) for r in runs] == [(0, 1, "a", 1), (1, 2, "b", 1), (2, 3, "a", 1)]
    assert [r.probability for r in runs] == [0.5, 0.6, 0.7]  # a run of one is its segment's own numbers


def test_only_the_top_label_counts_and_empty_is_empty():
    # The runner-up changes, the top does not: one run.
    runs = merge_runs([(0, 5), (5, 10)], [ranking("a", 0.1, 0.5, "x"), ranking("a", 0.1, 0.5, "y")])
    assert len(runs) == 1 and runs[0].segments == 2 and (runs[0].start, runs[0].end) == (0, 10)
    assert merge_runs([], []) == []
    with pytest.raises(ValueError, match="2 segments but 1 rankings"):
        merge_runs([(0, 1), (1, 2)], [ranking("a", 0.1, 0.5)])


def expected_runs(segments, answers) -> list[tuple]:
    """The merge rule recomputed from per-segment answers of POST /classify {segment_id}: groups of consecutive
    equal top labels, their span, mean probability and segment count."""
    runs = []
    tops = [(s, a["labels"][0]) for s, a in zip(segments, answers)]
    for label, group in itertools.groupby(tops, key=lambda item: item[1]["label"]):
        group = list(group)
        probability = sum(top["probability"] for _, top in group) / len(group)
        score = sum(top["score"] for _, top in group) / len(group)
        runs.append((group[0][0].start, group[-1][0].end, label, score, probability, len(group)))
    return runs


def blue_long(client) -> int:
    results = client.get("/search", params={"q": "x", "k": 10}).json()["results"]
    return next(r["video_id"] for r in results if r["title"] == "blue_long.mp4")


def test_an_indexed_videos_timeline_is_its_segments_classified_in_order(client, built_index):
    video_id = blue_long(client)
    labels, template = ["sea", "fire", "a dog", "the sky"], "a video of {}."
    r = client.post("/classify", json={"video_id": video_id, "labels": labels, "template": template, "timeline": True})
    assert r.status_code == 200, r.text
    body = r.json()
    plain = client.post("/classify", json={"video_id": video_id, "labels": labels, "template": template}).json()
    assert body["labels"] == plain["labels"]  # the overall ranking, as without timeline
    assert set(plain) == {"labels"}  # without timeline the answer is as before

    segments = open_index(built_index).video_segments(video_id)
    assert [(s.start, s.end) for s in segments] == [(0, 10), (10, 20), (20, 25)]  # in time order
    answers = [
        client.post("/classify", json={"segment_id": s.segment_id, "labels": labels, "template": template}).json()
        for s in segments
    ]
    got = [(b["start"], b["end"], b["label"], b["score"], b["probability"], b["segments"]) for b in body["timeline"]]
    want = expected_runs(segments, answers)
    assert [g[:3] + g[5:] for g in got] == [w[:3] + w[5:] for w in want]
    assert [g[3:5] for g in got] == [pytest.approx(w[3:5], abs=1e-6) for w in want]
    # The blocks cover the video end to end, without gaps.
    blocks = body["timeline"]
    assert blocks[0]["start"] == 0 and blocks[-1]["end"] == 25
    assert all(a["end"] == b["start"] for a, b in zip(blocks, blocks[1:]))
    assert sum(b["segments"] for b in blocks) == 3


def test_an_uploads_timeline_is_cut_as_the_index_cuts_videos(client, library, built_index):
    with open(library / "nested" / "blue_long.mp4", "rb") as f:
        files = {"file": ("blue_long.mp4", f, "video/mp4")}
        r = client.post("/classify", files=files, data={"labels": "sea,fire", "timeline": "true"})
    assert r.status_code == 200, r.text
    blocks = r.json()["timeline"]
    assert sum(b["segments"] for b in blocks) == 3  # the index's 10 s segments of a 25 s video
    assert blocks[0]["start"] == 0 and blocks[-1]["end"] == pytest.approx(25, abs=0.2)
    assert all(a["end"] == b["start"] and a["label"] != b["label"] for a, b in zip(blocks, blocks[1:]))
    assert {b["label"] for b in blocks} <= {"sea", "fire"} and all(0 < b["probability"] <= 1 for b in blocks)
    with open(library / "red.mp4", "rb") as f:
        r = client.post("/classify", files={"file": ("red.mp4", f, "video/mp4")}, data={"labels": "a,b", "timeline": "off"})
    assert r.status_code == 200 and set(r.json()) == {"labels"}


@pytest.mark.parametrize(
    "body,reason",
    [
        ({"segment_id": 1, "labels": ["a"], "timeline": True}, "video_id"),
        ({"video_id": 1, "labels": ["a"], "timeline": "maybe"}, "timeline"),
        ({"video_id": 999999, "labels": ["a"], "timeline": True}, "999999"),
    ],
)
def test_bad_timeline_requests_are_4xx_with_a_reason(client, body, reason):
    r = client.post("/classify", json=body)
    assert 400 <= r.status_code < 500 and reason in r.json()["detail"]


def test_bad_timeline_form_values_are_422(client, library):
    with open(library / "red.mp4", "rb") as f:
        r = client.post("/classify", files={"file": ("red.mp4", f, "video/mp4")}, data={"labels": "a", "timeline": "perhaps"})
    assert r.status_code == 422 and "timeline" in r.json()["detail"]
    r = client.post("/classify", files={"file": ("x.mp4", b"\x00" * 5000, "video/mp4")}, data={"labels": "a", "timeline": "1"})
    assert r.status_code == 422 and "decode" in r.json()["detail"]
