"""``vidseek classify --timeline`` as a user runs it, on a generated video whose first half is red and second half
blue: its segments cover the video, and its runs are the per-segment top labels, computed here independently (each
segment decoded alone with read_clip and classified by the same tiny model), merged."""

from __future__ import annotations

import itertools
import json
import re

import av
import pytest

from tests.test_cli import vidseek
from tests.videos import frame_image

TINY = ("--model", "vidseek-tiny", "--pretrained", "none")
CANDIDATES = ["red", "blue", "sea", "fire", "a dog", "a car", "the sky", "night", "a tree", "c"]
LINE = re.compile(r"^(\d\d:\d\d)–(\d\d:\d\d)  (.+?) +(\d\.\d\d)  cos +(-?\d\.\d{3})  (\d+) segments?$")


def make_halves(path, seconds=20, fps=10, size=(160, 96)):
    """A video whose first half is red and second half blue (each frame numbered, as tests/videos.py does)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for index in range(seconds * fps):
            color = (220, 30, 30) if index < seconds * fps // 2 else (30, 40, 220)
            frame = av.VideoFrame.from_ndarray(frame_image(index, *size, color), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def halves(tmp_path_factory):
    return make_halves(tmp_path_factory.mktemp("timeline") / "halves.mp4")


def segment_tops(encoder, path, spans, frames, labels):
    """Each segment's top (label, cosine, probability), decoded alone: not the timeline's batched path."""
    from indexer.clips import decode_resampling, decode_short_side, read_clip

    short_side = decode_short_side(encoder.preprocess.resize)
    resample = decode_resampling(encoder.preprocess.interpolation)
    return [encoder.classify(read_clip(str(path), frames, short_side, a, b, resample=resample), labels)[0] for a, b in spans]


def splitting_labels(encoder, path, spans, frames):
    """Two candidate labels whose top label differs between the red and the blue half (random tiny weights mean
    nothing by name, but the halves' vectors differ, so some pair tells them apart)."""
    for pair in itertools.combinations(CANDIDATES, 2):
        tops = segment_tops(encoder, path, spans, frames, list(pair))
        if tops[0][0] != tops[-1][0]:
            return list(pair), tops
    raise AssertionError("no candidate pair tells the red half from the blue one")


def merged(spans, tops):
    runs = []
    for label, group in itertools.groupby(zip(spans, tops), key=lambda item: item[1][0]):
        group = list(group)
        mean = sum(top[2] for _, top in group) / len(group)
        runs.append((group[0][0][0], group[-1][0][1], label, mean, len(group)))
    return runs


def test_timeline_runs_are_the_merged_segment_labels(halves, _tiny_encoder, tmp_path):
    spans = [(0, 5), (5, 10), (10, 15), (15, 20)]
    labels, tops = splitting_labels(_tiny_encoder, halves, spans, 8)  # 8 frames: no index, the upload default
    args = ("classify", halves, "--labels", ",".join(labels), "--timeline", "--segment-seconds", "5", *TINY)
    body = json.loads(vidseek(*args, "--json", "--index-dir", tmp_path / "none").stdout)
    assert sorted(x["label"] for x in body["labels"]) == sorted(labels)
    blocks = body["timeline"]
    assert sum(b["segments"] for b in blocks) == 4
    assert blocks[0]["start"] == 0 and blocks[-1]["end"] == pytest.approx(20, abs=0.2)
    assert all(a["end"] == b["start"] and a["label"] != b["label"] for a, b in zip(blocks, blocks[1:]))
    want = merged(spans, tops)
    assert len(want) >= 2
    assert [(b["start"], b["label"], b["segments"]) for b in blocks] == [(w[0], w[2], w[4]) for w in want]
    assert [b["probability"] for b in blocks] == pytest.approx([w[3] for w in want], abs=1e-4)

    # The same runs as lines: times, label, mean probability, mean cosine, segment count.
    lines = vidseek(*args, "--index-dir", tmp_path / "none").stdout.splitlines()
    assert len(lines) == len(blocks)
    for line, block in zip(lines, blocks):
        start, end, label, probability, score, count = LINE.match(line).groups()
        assert (label, int(count)) == (block["label"], block["segments"])
        assert float(probability) == pytest.approx(block["probability"], abs=0.006)
        assert float(score) == pytest.approx(block["score"], abs=0.0006)
        assert start == f"00:{int(block['start']):02d}" and end == f"00:{int(block['end']):02d}"


def test_an_index_gives_the_segment_length_and_frames(halves, _tiny_encoder, tmp_path):
    from indexer.pipeline.local import build_index
    from indexer.pipeline.options import BuildOptions

    library = tmp_path / "library"
    library.mkdir()
    (library / "halves.mp4").write_bytes(halves.read_bytes())
    index_dir = tmp_path / "index"
    options = BuildOptions(library, index_dir, frames=4, segments="fixed", segment_seconds=4, workers=1, progress=False)
    build_index(_tiny_encoder, options)
    spans = [(0, 4), (4, 8), (8, 12), (12, 16), (16, 20)]
    labels, tops = splitting_labels(_tiny_encoder, halves, spans, 4)
    args = ("classify", halves, "--labels", ",".join(labels), "--timeline", "--json", "--index-dir", index_dir)
    blocks = json.loads(vidseek(*args).stdout)["timeline"]
    assert sum(b["segments"] for b in blocks) == 5  # the index's 4 s segments, not the default 10 s
    want = merged(spans, tops)
    assert [(b["start"], b["label"], b["segments"]) for b in blocks] == [(w[0], w[2], w[4]) for w in want]


def test_bad_timeline_options_are_one_line(halves, tmp_path):
    for extra, reason in [
        (("--segment-seconds", "5"), "--segment-seconds applies to --timeline only"),
        (("--timeline", "--segment-seconds", "0"), "--segment-seconds must be between 0.5 and 3600"),
        (("--timeline", "--segment-seconds", "nan"), "--segment-seconds must be between"),
    ]:
        r = vidseek("classify", halves, "--labels", "a,b", *extra, *TINY, "--index-dir", tmp_path / "n", check=False)
        assert r.returncode == 2 and reason in r.stderr and "Traceback" not in r.stderr
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(halves.read_bytes()[:2000])
    r = vidseek("classify", broken, "--labels", "a,b", "--timeline", *TINY, "--index-dir", tmp_path / "n", check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr
