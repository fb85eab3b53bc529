"""Indexing on Ray (a small local instance) writes the index and catalog of the single-process build."""

import os
import pickle
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from app import cli
from indexer.decoders import PyAVDecoder
from indexer.errors import RayBuildError
from indexer.index_dir.manifest import read_manifest
from indexer.index_dir.reader import IndexReader
from indexer.pipeline.local import build_index
from indexer.pipeline.options import BuildOptions
from indexer.pipeline.plan import CRASHED
from indexer.pipeline.ray import EmbedSegments, EncoderRecipe, build_index_on_ray
from tests.videos import make_corrupt, make_video

CRASHING_DECODER = f"{__name__}:CrashingDecoder"


class CrashingDecoder(PyAVDecoder):
    """PyAV, except that reading frames of a file named crash* kills the process (a decoder segfault)."""

    name = "crashing"

    def read(self, path, times, short_side):
        if Path(path).name.startswith("crash"):
            os._exit(139)
        return super().read(path, times, short_side)


def options(library, index_dir, **kw):
    defaults = dict(segments="fixed", frames=4, segment_seconds=10, batch_size=4, workers=2, progress=False)  # as built_index
    return BuildOptions(library, index_dir, **{**defaults, **kw})


def snapshot(index_dir, library):
    """Everything a build decides, keyed by path relative to the library: videos, segment ids and spans,
    vectors and posters."""
    library, reader = Path(library).resolve(), IndexReader(index_dir)
    videos, vectors, posters = {}, {}, {}
    for video in reader.videos():
        segments = reader.video(video.id).segments if video.status == "indexed" else []
        relative = str(Path(video.path).relative_to(library))
        error = video.error and video.error.replace(str(library), "LIBRARY")
        spans = [(s.id, s.ordinal, s.start, s.end) for s in segments]
        videos[relative] = (video.id, video.status, error, video.duration, video.fps, video.width, video.height, spans)
        for s in segments:
            vectors[s.id] = reader.segment_vector(s.id)
            posters[s.id] = reader.thumbnail_path(s.id).read_bytes()
    count = reader.count
    reader.close()
    return videos, vectors, posters, count


def test_ray_build_equals_the_single_process_build_then_follows_changes(local_ray, library, built_index, _tiny_encoder, tmp_path):
    lib = tmp_path / "lib"
    shutil.copytree(library, lib)  # a copy, changed below
    index_dir = tmp_path / "index"
    report = build_index_on_ray(_tiny_encoder, options(lib, index_dir))

    assert (report.indexed, report.segments, report.unchanged) == (4, 6, 0)
    assert [Path(path).name for path, _ in report.failed] == ["corrupt.mp4"]
    videos, vectors, posters, count = snapshot(index_dir, lib)
    expected_videos, expected_vectors, expected_posters, expected_count = snapshot(built_index, library)
    assert videos == expected_videos  # same ids, spans (the long video's three segments), errors, in the same order
    assert videos["corrupt.mp4"][1] == "failed" and "not a readable media file" in videos["corrupt.mp4"][2]
    assert count == expected_count == len(vectors) == 6
    for segment_id, vector in expected_vectors.items():
        np.testing.assert_allclose(vectors[segment_id], vector, atol=1e-5)
    assert posters == expected_posters
    manifest, expected = read_manifest(index_dir), read_manifest(built_index)
    assert (manifest.count, manifest.videos, manifest.failed) == (expected.count, expected.videos, expected.failed)
    assert not manifest.compatibility_problems(expected)

    # Incremental on Ray too: nothing to do (Ray is not even used), then only the changes, one of which
    # kills the decoder's process every time (a decoder segfault): that file alone fails.
    again = build_index_on_ray(_tiny_encoder, options(lib, index_dir))
    assert (again.indexed, again.unchanged, again.removed, again.failed) == (0, 5, 0, [])
    make_video(lib / "green.mp4", 12, color=(0, 90, 0))  # changed: now two segments
    make_video(lib / "new.mp4", 2, color=(9, 9, 9))
    make_video(lib / "crash.mp4", 2, color=(90, 9, 9))
    (lib / "red.mp4").unlink()
    third = build_index_on_ray(_tiny_encoder, options(lib, index_dir, decoder=CRASHING_DECODER))
    assert (third.indexed, third.unchanged, third.removed, third.segments) == (2, 3, 1, 3)
    assert third.failed == [(str(lib / "crash.mp4"), CRASHED)]  # the single-process pool's words for it
    after, after_vectors, _, after_count = snapshot(index_dir, lib)
    assert sorted(after) == ["corrupt.mp4", "crash.mp4", "green.mp4", "nested/blue_long.mp4", "new.mp4", "yellow.mov"]
    for unchanged in ("nested/blue_long.mp4", "yellow.mov"):
        assert after[unchanged] == videos[unchanged]
        for segment_id, *_ in after[unchanged][-1]:
            np.testing.assert_array_equal(after_vectors[segment_id], vectors[segment_id])
    green = after["green.mp4"][-1]
    assert [(start, end) for _, _, start, end in green] == [(0, 10), (10, pytest.approx(12, abs=0.11))]
    assert min(segment_id for segment_id, *_ in green) > max(vectors)  # ids are never reused
    assert after_count == 7  # 6, less red's and green's one, plus green's two and new's one


def test_actors_get_a_recipe_not_the_model(_tiny_encoder):
    recipe = EncoderRecipe.of(_tiny_encoder, device="cpu", precision="float32")
    assert len(pickle.dumps(recipe)) < 1000  # what each actor receives: names, not weights
    clip = np.random.default_rng(0).integers(0, 256, (4, 96, 160, 3), dtype=np.uint8)
    np.testing.assert_allclose(recipe.load().encode_video(clip), _tiny_encoder.encode_video(clip), atol=1e-6)
    low = EncoderRecipe.of(_tiny_encoder, device="cpu", precision="bfloat16").load()
    assert low.image_dtype == torch.bfloat16 and low.encode_video(clip) @ _tiny_encoder.encode_video(clip) > 0.999
    other = EncoderRecipe("vidseek-tiny", "none", "sha256:weights-of-another-run", "cpu")
    with pytest.raises(RayBuildError, match="differ from the driver.s.*every node needs the same none"):
        other.load()


def test_an_actor_embeds_a_large_block_in_batches_that_fit(_tiny_encoder, monkeypatch):
    calls = []
    monkeypatch.setattr(_tiny_encoder.__class__, "batch_size_for_memory", lambda self, frames, side: 2)
    actor = EmbedSegments(EncoderRecipe.of(_tiny_encoder, device="cpu", precision="float32"), frames=4)
    original = actor.encoder.encode_videos
    actor.encoder.encode_videos = lambda clips: calls.append(len(clips)) or original(clips)
    clips = [np.random.default_rng(i).integers(0, 256, (4, 96, 160, 3), dtype=np.uint8) for i in range(5)]
    block = {
        "clip": np.array([clip.tobytes() if i != 1 else b"" for i, clip in enumerate(clips)], dtype=object),
        "clip_height": np.array([96] * 5),
        "clip_width": np.array([160] * 5),
    }
    out = actor(block)
    assert calls == [2, 2] and actor.max_batch == 2  # 4 clips (one row had no frames) in batches of 2
    assert not any(out["embed_error"]) and not out["vector"][1].any()
    for row in (0, 2, 3, 4):
        np.testing.assert_allclose(out["vector"][row], _tiny_encoder.encode_video(clips[row]), atol=1e-5)


def test_without_ray_installed_the_error_says_how_to_get_it(_tiny_encoder, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails as if it were not installed
    make_video(tmp_path / "lib" / "a.mp4", 1)
    with pytest.raises(RayBuildError, match=r"pip install 'vidseek\[ray\]'"):
        build_index_on_ray(_tiny_encoder, options(tmp_path / "lib", tmp_path / "index"))
    assert not (tmp_path / "index").exists()  # failed before touching the index


def test_cli_index_build_with_ray_writes_the_same_index(local_ray, library, built_index, tmp_path, capsys):
    index_dir = tmp_path / "index"
    argv = ["index", "build", str(library), "--index-dir", str(index_dir), "--model", "vidseek-tiny", "--pretrained", "none"]
    argv += ["--frames", "4", "--batch-size", "4", "--workers", "2", "--no-progress", "--precision", "float32", "--ray"]
    argv += ["--segments", "fixed"]  # as built_index
    assert cli.main(argv) == 0
    assert "on Ray (a local instance)" in capsys.readouterr().err
    videos, vectors, posters, count = snapshot(index_dir, library)
    expected_videos, expected_vectors, expected_posters, _ = snapshot(built_index, library)
    assert videos == expected_videos and posters == expected_posters and count == 6
    for segment_id, vector in expected_vectors.items():
        np.testing.assert_allclose(vectors[segment_id], vector, atol=1e-5)


class FailsPastTheEnd(PyAVDecoder):
    """PyAV, except that asking a file named tail_error* only for instants past its stream's real end raises, as some
    demuxers do after a seek past the data (after a pause, so that the chunk which finds the real end comes back first)."""

    name = "fails-past-the-end"

    def read(self, path, times, short_side):
        frames = super().read(path, times, short_side)
        if Path(path).name.startswith("tail_error") and frames.end_time is not None and min(times) >= frames.end_time:
            time.sleep(1.0)
            raise RuntimeError("seek past the end of the data")
        return frames


def truncated(path, seconds, keep):
    """A Matroska file cut to ``keep`` of its bytes: its header still says ``seconds``, its stream ends earlier."""
    full = make_video(path.with_suffix(".full.mkv"), seconds, color=(60, 160, 60), gop=20)
    path.write_bytes(full.read_bytes()[: int(len(full.read_bytes()) * keep)])
    full.unlink()
    return path


def catalog_of(index_dir, library):
    """Each video's status, error and segment spans (ids aside), by name."""
    reader = IndexReader(index_dir)
    videos = {}
    for video in reader.videos():
        spans = [(s.start, s.end) for s in reader.video(video.id).segments] if video.status == "indexed" else []
        error = video.error and video.error.replace(str(Path(library).resolve()), "LIBRARY")
        videos[Path(video.path).name] = (video.status, error, spans)
    reader.close()
    return videos


def test_local_and_ray_builds_record_failing_files_alike(local_ray, _tiny_encoder, tmp_path):
    """The same failing files give the same catalog on both runners: a corrupt file, and a truncated file (its header
    says 40 s, its stream ends at 14.5 s) whose reads past the end raise. Only chunks of its first plan, too long,
    ask there: once a chunk found the real end, the video is re-planned and indexed over its real length. The Ray
    runner stops decoding a plan at that chunk; the local one has later chunks in flight, whose error must not fail
    the new plan."""
    lib = tmp_path / "lib"
    make_video(lib / "fine.mp4", 3)
    make_corrupt(lib / "corrupt.mp4")
    truncated(lib / "tail_error.mkv", 40, 0.4)
    kw = dict(decoder=f"{__name__}:FailsPastTheEnd", chunk_segments=1, workers=1)
    build_index(_tiny_encoder, options(lib, tmp_path / "local", **kw))
    build_index_on_ray(_tiny_encoder, options(lib, tmp_path / "ray", **kw))
    local, ray = catalog_of(tmp_path / "local", lib), catalog_of(tmp_path / "ray", lib)
    assert local == ray
    assert local["corrupt.mp4"][0] == "failed"
    status, _, spans = local["tail_error.mkv"]
    assert status == "indexed" and spans[0] == (0, 10) and 14 < spans[-1][1] < 15, local["tail_error.mkv"]
