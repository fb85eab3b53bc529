"""``vidseek index frames``: the frames the index samples from a video, as JSON, a table and a contact sheet,
held to ViFi-CLIP's frame formula on generated videos whose frames carry their numbers; errors exit 2."""

import dataclasses
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from app.cli import main
from app.cli.frames import SHEET_MAX_ROWS
from indexer.pipeline.options import BuildOptions
from tests.videos import make_corrupt, make_video

FPS = 10


def reference_indices(n: int, t: int) -> list[int]:
    """ViFi-CLIP's test-time sampling, as its datasets/pipeline.py writes it."""
    return list((np.arange(t) * (n / t) + n / t / 2).astype(int))


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("frames") / "v.mp4", 25, fps=FPS, size=(160, 96))  # 250 frames


def frames_json(capsys, *args) -> dict:
    assert main(["index", "frames", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_gives_the_reference_frames_of_each_segment_as_the_build_plans_them(video, capsys):
    out = frames_json(capsys, video, "--frames", 8)
    defaults = {f.name: f.default for f in dataclasses.fields(BuildOptions)}
    assert out["frames"] == defaults["frames"] == 8 and out["segment_seconds"] == defaults["segment_seconds"]
    assert [(s["start"], s["end"]) for s in out["segments"]] == [(0.0, 10.0), (10.0, 20.0), (20.0, 25.0)]
    for segment in out["segments"]:
        first, n = round(segment["start"] * FPS), round((segment["end"] - segment["start"]) * FPS)
        assert segment["indices"] == [first + i for i in reference_indices(n, 8)]
        assert segment["times"] == pytest.approx([i / FPS for i in segment["indices"]])
    one = frames_json(capsys, video, "--frames", 5, "--segment-seconds", 30)
    assert [s["indices"] for s in one["segments"]] == [reference_indices(250, 5)]


def test_the_table_lists_each_segment(video, capsys):
    assert main(["index", "frames", str(video), "--frames", "4", "--segment-seconds", "12.5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "2 segment(s), 4 frame(s) each" in lines[0]
    assert lines[2].split()[:3] == ["0", "0.000", "12.500"] and lines[2].split()[3].startswith("15@1.500")


def test_the_sheet_is_a_jpeg_of_a_row_per_segment_and_a_column_per_frame(video, tmp_path, capsys):
    sheet = tmp_path / "sheet.jpg"
    assert main(["index", "frames", str(video), "--frames", "6", "--sheet", str(sheet)]) == 0
    image = Image.open(io.BytesIO(sheet.read_bytes()))
    assert image.format == "JPEG"
    width, height = image.size
    tile_w, tile_h = 160, 96  # the video's own size at the sheet's short side 96
    assert width == 6 * (tile_w + 4) + 4 and height == 3 * (tile_h + 14 + 4) + 4


def test_a_long_video_sheet_is_bounded_and_says_what_it_left_out(tmp_path, capsys):
    long = make_video(tmp_path / "long.mp4", SHEET_MAX_ROWS + 5, fps=2, size=(32, 32))
    sheet = tmp_path / "sheet.jpg"
    assert main(["index", "frames", str(long), "--frames", "2", "--segment-seconds", "1", "--sheet", str(sheet)]) == 0
    assert "5 left out" in capsys.readouterr().err
    assert Image.open(sheet).size[1] == SHEET_MAX_ROWS * (96 + 14 + 4) + 4 + 14


@pytest.mark.parametrize("make", ["missing", "corrupt", "text"])
def test_bad_input_exits_2_with_a_clear_message(make, tmp_path):
    path = tmp_path / "x.mp4"
    if make == "corrupt":
        make_corrupt(path)
    elif make == "text":
        path.write_text("not a video")
    run = subprocess.run([sys.executable, "-m", "app.cli", "index", "frames", str(path)], capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.startswith("vidseek: error: ") and str(path) in run.stderr
    assert ("no such video file" in run.stderr) == (make == "missing")


def test_it_loads_no_model(video):
    command = f"main(['index', 'frames', {str(video)!r}, '--json'])"
    code = f"import sys; from app.cli import main; {command}; print('torch' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip().endswith("False")
