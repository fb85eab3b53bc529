"""A later build of an index keeps to what it was built with where it is not told otherwise: its index type and
what is scanned and made (extensions, photos, previews), as its manifest records them. A job's or the watcher's
build is such a build (app/services/jobs.py gives it only the segment options)."""

from __future__ import annotations

import json

from PIL import Image

from app.cli import main
from indexer import IndexReader, current_generation
from tests.videos import make_video


def titles(index_dir) -> set[str]:
    reader = IndexReader(index_dir)
    try:
        return {v.title for v in reader.video_records()}
    finally:
        reader.close()


def test_a_later_build_keeps_to_the_options_its_index_was_built_with(tmp_path):
    library, index_dir = tmp_path / "lib", tmp_path / "index"
    make_video(library / "a.mp4", 2)
    make_video(library / "b.mkv", 2)
    Image.new("RGB", (64, 48), (200, 30, 30)).save(library / "p.jpg")
    build = ["index", "build", str(library), "--index-dir", str(index_dir), "--model", "vidseek-tiny"]
    build += ["--pretrained", "none", "--frames", "2", "--no-progress"]
    assert main([*build, "--no-photos", "--extensions", "mp4", "--previews", "off", "--index-type", "flat"]) == 0
    assert titles(index_dir) == {"a.mp4"}
    make_video(library / "c.mp4", 2)
    assert main(build) == 0  # told nothing
    assert titles(index_dir) == {"a.mp4", "c.mp4"}  # still mp4 only, no photos
    manifest = json.loads((current_generation(index_dir) / "manifest.json").read_text())
    assert manifest["extra"]["scope"] == {"index_type": "flat", "extensions": [".mp4"], "photos": False, "previews": "off"}
    assert main([*build, "--photos", "--extensions", "mp4,jpg"]) == 0  # told otherwise
    assert titles(index_dir) == {"a.mp4", "c.mp4", "p.jpg"}
