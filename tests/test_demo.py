"""The offline demo end to end at a reduced size: synthetic library -> fine-tuned tiny model -> index -> page."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from app.demo import DemoOptions, run_demo, suggest
from app.main import create_app
from app.services import VidseekService
from app.settings import Settings
from indexer.synth import SynthOptions, plan_split

pytestmark = pytest.mark.slow

# Small enough for a couple of minutes on 2 cores; the default demo is 1000 clips, 20 epochs, 8 frames.
SMALL = dict(clips=500, test_fraction=0.1, epochs=10, frames=4, progress=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    options = DemoOptions(cache_dir=tmp_path_factory.mktemp("demo-cache"), **SMALL)
    lines: list[str] = []
    return options, run_demo(options, lines.append), lines


def test_held_out_captions_find_their_own_clip_far_more_often_than_chance(demo):
    options, result, lines = demo
    assert result.test_clips == 50 and result.chance_r1 == pytest.approx(1 / 50)
    assert result.r1 >= 6 * result.chance_r1, f"R@1 {result.r1:.3f} vs chance {result.chance_r1:.3f}"
    assert result.reused == [] and [line[:5] for line in lines] == ["[1/3]", "[2/3]", "[3/3]"]
    assert all(p.is_relative_to(options.cache_dir) for p in (result.folder, result.index_dir, result.checkpoint))


def test_the_page_suggests_held_out_captions_and_finds_their_clips(demo):
    options, result, _ = demo
    held_out = {c.caption: c for c in plan_split(options.synth)[1]}
    assert 1 <= len(result.suggestions) <= 6 and all(q in held_out for q in result.suggestions)
    assert len({held_out[q].objects[0].colour for q in result.suggestions}) == len(result.suggestions)
    settings = Settings(index_dir=result.index_dir)
    app = create_app(settings, VidseekService(settings))
    app.state.examples = result.suggestions
    with TestClient(app) as client:
        page = client.get("/").text
        assert all(query in page for query in result.suggestions)
        for query in result.suggestions:
            first = client.get("/search", params={"q": query, "k": 1}).json()["results"][0]
            assert first["title"].removesuffix(".mp4").split("-", 1)[1] == held_out[query].slug  # NNNNN-<slug>.mp4


def test_a_second_run_reuses_the_data_and_the_model(demo):
    options, result, _ = demo
    before = result.checkpoint.stat().st_mtime_ns
    again = run_demo(options, lambda _: None)
    assert again.reused == ["data", "model"] and result.checkpoint.stat().st_mtime_ns == before
    assert again.r1 == result.r1 and again.suggestions == result.suggestions


def test_the_command_reuses_the_cache_and_prints_r1(demo):
    options, result, _ = demo
    args = ["--clips", "500", "--epochs", "10", "--frames", "4", "--cache-dir", str(options.cache_dir), "--no-serve"]
    run = subprocess.run([sys.executable, "-m", "app.cli", "demo", *args], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "reused from" in run.stderr and "data, model" in run.stderr
    assert f"(R@1) {result.r1:.2f}" in run.stdout and result.suggestions[0] in run.stdout


def test_clean_removes_everything_the_demo_wrote(tmp_path):
    (tmp_path / "demo" / "x").mkdir(parents=True)
    command = [sys.executable, "-m", "app.cli", "demo", "--clean", "--cache-dir", str(tmp_path / "demo")]
    run = subprocess.run(command, capture_output=True, text=True)
    assert run.returncode == 0 and not (tmp_path / "demo").exists()


def test_suggestions_vary():
    clips = plan_split(SynthOptions(n=400, test_fraction=0.5))[1]
    chosen = [next(c for c in clips if c.caption == q) for q in suggest(clips, 6)]
    assert len(chosen) == 6 and all(len(c.objects) == 1 for c in chosen)
    assert len({c.objects[0].colour for c in chosen}) == 6 and len({c.background for c in chosen}) >= 4
    assert suggest(clips[:2], 6) == [c.caption for c in sorted(clips[:2], key=lambda c: len(c.objects))]


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="at least 20 clips"):
        run_demo(DemoOptions(tmp_path, clips=5))


def test_a_cache_indexed_before_shots_keeps_its_fixed_windows(demo):
    """A returning user's demo index was cut into fixed windows (no segmenter in its manifest): the next run
    updates it as it is instead of refusing the switch to shots."""
    import json

    from indexer import current_generation, read_manifest

    options, result, _ = demo
    manifest_path = current_generation(result.index_dir) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["segmenter"] == "shots"  # a fresh demo indexes by shots, the default
    for name in ("segmenter", "max_segment_seconds", "min_segment_seconds"):
        manifest.pop(name)
    manifest_path.write_text(json.dumps(manifest))
    again = run_demo(options, lambda _: None)
    assert again.reused == ["data", "model"] and again.r1 == result.r1
    assert read_manifest(result.index_dir).segmenter == "fixed"
