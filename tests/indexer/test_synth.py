"""The synthetic benchmark generator and the training-set reader/decoded-frame cache."""

import csv
import dataclasses
import json

import av
import numpy as np
import pytest

from indexer.dataset import DatasetError, load_clips, read_examples
from indexer.synth import (
    COLOURS,
    SynthClip,
    SynthObject,
    SynthOptions,
    generate,
    plan_split,
    render_clip,
    write_video,
)
from tests.videos import make_corrupt, make_video


def test_split_holds_out_pairs_and_captions():
    train, test, held_out = plan_split(SynthOptions(n=600, seed=3))
    assert len(train) == 480 and len(test) == 120
    train_captions = {c.caption for c in train}
    test_captions = [c.caption for c in test]
    assert len(set(test_captions)) == len(test_captions)
    assert not train_captions & set(test_captions)
    held = set(held_out)
    assert len(held) == 4
    assert not any((o.colour, o.shape) in held for c in train for o in c.objects)
    assert sum(any((o.colour, o.shape) in held for o in c.objects) for c in test) >= 30
    assert any(len(c.objects) == 2 for c in train) and any(len(c.objects) == 1 for c in train)
    assert all(o.colour != c.background for c in train + test for o in c.objects)
    assert plan_split(SynthOptions(n=600, seed=3))[1] == test  # deterministic per seed
    assert plan_split(SynthOptions(n=600, seed=4))[1] != test


def test_captions_and_labels():
    clip = SynthClip("blue", (SynthObject("red", "triangle", "small", "horizontally"),))
    assert clip.caption == "a small red triangle moving horizontally on a blue background"
    assert clip.label == "red triangle"
    two = SynthClip(
        "gray", (SynthObject("red", "circle", "large", "still"), SynthObject("white", "square", "small", "in a circle"))
    )
    assert two.caption == "a large red circle standing still and a small white square moving in a circle on a gray background"


def centroids(video: np.ndarray, colour: str) -> np.ndarray:
    target = np.array(COLOURS[colour])
    out = []
    for frame in video:
        ys, xs = np.nonzero(np.abs(frame.astype(int) - target).max(axis=-1) < 30)
        out.append((xs.mean(), ys.mean()))
    return np.array(out)


@pytest.mark.parametrize("motion", ["horizontally", "vertically", "diagonally", "in a circle", "still"])
def test_objects_follow_their_path(motion):
    clip = SynthClip("black", (SynthObject("red", "square", "large", motion),))
    video = render_clip(clip, seed=7, seconds=2, fps=10, size=96)
    assert video.shape == (20, 96, 96, 3) and video.dtype == np.uint8
    xy = centroids(video, "red")
    dx, dy = np.ptp(xy[:, 0]), np.ptp(xy[:, 1])
    if motion == "still":
        assert dx < 1 and dy < 1
    elif motion == "horizontally":
        assert dx > 25 and dy < 1
    elif motion == "vertically":
        assert dy > 25 and dx < 1
    elif motion == "diagonally":
        assert dx > 25 and abs(dx - dy) < 3
    else:
        radius = np.linalg.norm(xy - xy.mean(axis=0), axis=1)
        assert dx > 15 and dy > 15 and np.ptp(radius) < 0.3 * radius.mean()


def test_shapes_differ_and_sizes_scale():
    areas = {}
    for shape in ("circle", "square", "triangle", "diamond"):
        for size in ("small", "large"):
            video = render_clip(SynthClip("black", (SynthObject("white", shape, size, "still"),)), seed=1)
            areas[shape, size] = int((video[0] > 128).all(axis=-1).sum())
    for shape in ("circle", "square", "triangle", "diamond"):
        assert areas[shape, "large"] > 2.5 * areas[shape, "small"]
    assert len({areas[s, "large"] for s in ("circle", "square", "triangle", "diamond")}) == 4


def test_generate_writes_decodable_videos_and_csvs(tmp_path):
    report = generate(tmp_path / "synth", SynthOptions(n=10, seed=1, workers=1, seconds=1.0))
    assert (report.train, report.test) == (8, 2)
    with open(report.test_csv) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["video", "caption", "label"] and len(rows) == 2
    examples = read_examples(report.train_csv)
    assert all(e.video.is_file() and e.caption and e.label for e in examples)
    clips = load_clips(examples[:2], frames=4, resize=64)
    assert [c.shape for c in clips.clips] == [(4, 64, 64, 3)] * 2 and not clips.failed


def keyframe_times(path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sorted(float(p.pts * stream.time_base) for p in container.demux(stream) if p.pts is not None and p.is_keyframe)


@pytest.mark.parametrize("gop, expected", [(None, [0.0]), (5, [0.0, 0.5, 1.0, 1.5]), (10, [0.0, 1.0]), (1, None)])
def test_keyframes_come_every_gop_frames(tmp_path, gop, expected):
    # The default (libx264's 250 frames) leaves a 2 s clip one keyframe: what --fast-seek sees of the demo's clips.
    clip = SynthClip("gray", (SynthObject("red", "circle", "large", "horizontally"),))
    write_video(tmp_path / "v.mp4", render_clip(clip, seed=3, seconds=2, fps=10), fps=10, gop=gop)
    assert keyframe_times(tmp_path / "v.mp4") == pytest.approx(expected or [i / 10 for i in range(20)])
    with pytest.raises(ValueError, match="gop"):
        write_video(tmp_path / "w.mp4", render_clip(clip, seed=3), fps=10, gop=0)


def decoded(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def test_a_split_written_alone_is_the_full_runs(tmp_path):
    options = SynthOptions(n=10, seed=2, workers=1, seconds=1.0)
    generate(tmp_path / "full", options)
    report = generate(tmp_path / "test-only", options, splits=("test",))
    assert (report.train, report.test) == (0, 2)
    assert not (tmp_path / "test-only" / "videos" / "train").exists() and not report.train_csv.exists()
    assert report.test_csv.read_text() == (tmp_path / "full" / "test.csv").read_text()
    full = sorted((tmp_path / "full" / "videos" / "test").glob("*.mp4"))
    alone = sorted((tmp_path / "test-only" / "videos" / "test").glob("*.mp4"))
    assert [f.name for f in alone] == [f.name for f in full]
    # The same frames, up to the encoder: libx264 here does not always give the same bytes (or, now and then,
    # exactly the same pixels: up to 18 levels apart at a few pixels) for two encodes of the same frames.
    for a, f in zip(alone, full):
        x, y = decoded(a), decoded(f)
        assert x.shape == y.shape and np.abs(x.astype(np.int16) - y).mean() < 0.5
    regop = generate(tmp_path / "gop2", dataclasses.replace(options, gop=2), splits=("test",))
    written = sorted((tmp_path / "gop2" / "videos" / "test").glob("*.mp4"))
    assert regop.test == 2 and [f.name for f in written] == [f.name for f in full]
    assert all(keyframe_times(f) == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8]) for f in written)
    with pytest.raises(ValueError, match="unknown split"):
        generate(tmp_path / "x", options, splits=("val",))


def test_reader_formats_and_errors(tmp_path):
    (tmp_path / "a.csv").write_text("video,label,start,end\nclips/x.mp4,dog,1.5,3\n/abs/y.mp4,cat,,\n")
    first, second = read_examples(tmp_path / "a.csv")
    assert first.video == tmp_path / "clips" / "x.mp4" and (first.label, first.start, first.end) == ("dog", 1.5, 3.0)
    assert str(second.video) == "/abs/y.mp4" and second.start is None and second.caption is None
    (tmp_path / "b.jsonl").write_text(json.dumps({"video": "v.mp4", "caption": "a dog"}) + "\n\n")
    assert read_examples(tmp_path / "b.jsonl")[0].caption == "a dog"
    (tmp_path / "c.csv").write_text("path,caption\nv.mp4,x\n")
    with pytest.raises(DatasetError, match="'video' column"):
        read_examples(tmp_path / "c.csv")
    (tmp_path / "d.csv").write_text("video,caption,start,end\nv.mp4,x,3,2\n")
    with pytest.raises(DatasetError, match="not after start"):
        read_examples(tmp_path / "d.csv")


def test_cache_bad_videos_and_segments(tmp_path):
    make_video(tmp_path / "v" / "ten.mp4", 4, fps=10, size=(128, 96))  # frame n carries the number n
    make_corrupt(tmp_path / "v" / "bad.mp4")
    (tmp_path / "set.csv").write_text(
        "video,caption,start,end\nv/ten.mp4,whole,,\nv/bad.mp4,broken,,\nv/ten.mp4,late,2,4\nv/missing.mp4,gone,,\n"
    )
    examples = read_examples(tmp_path / "set.csv")
    cache = tmp_path / "cache"
    first = load_clips(examples, frames=4, resize=48, cache_dir=cache)
    assert [e.caption for e in first.examples] == ["whole", "late"]
    assert sorted(p.rsplit("/", 1)[-1] for p, _ in first.failed) == ["bad.mp4", "missing.mp4"]
    assert first.clips[0].shape == (4, 48, 64, 3) and first.cached == 0
    # the segment 2..4 s samples later frames than the whole 0..4 s clip
    assert first.clips[1].mean() != pytest.approx(first.clips[0].mean())
    second = load_clips(examples, frames=4, resize=48, cache_dir=cache)
    assert second.cached == 2 and len(list(cache.glob("*.npy"))) == 2
    for a, b in zip(first.clips, second.clips):
        np.testing.assert_array_equal(a, b)
    other = load_clips(examples[:1], frames=2, resize=48, cache_dir=cache)  # other settings: not a cache hit
    assert other.cached == 0 and other.clips[0].shape[0] == 2
