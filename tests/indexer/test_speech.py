"""Speech transcripts (indexer/texts/speech.py): a build with a transcriber stores its cues (source "speech") by the
segments they overlap, beside the subtitles, and the full-text index finds them; a new transcriber reads the words
again, the same one does not; a transcriber that fails costs the file only its transcript. The transcriber here is
one that returns fixed cues (the indexing path is what is tested); the faster-whisper one is held to its errors,
and its cue times to the indexer's clock."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from indexer import IndexReader, current_generation
from indexer.pipeline.local import build_index
from indexer.pipeline.options import BuildOptions
from indexer.texts import Cue, text_stamp
from indexer.texts.speech import SPEECH, FasterWhisper, audio_offset, speech_cues
from tests.formats import write_sample
from tests.videos import make_video


class FixedCues:
    """Says the same words for every file it is given, and counts the files."""

    def __init__(self, cues: list[Cue], name: str = "fixed:1"):
        self.cues, self.name, self.files = cues, name, []

    def transcribe(self, path: Path) -> list[Cue]:
        self.files.append(path.name)
        return list(self.cues)


class Broken:
    name = "broken:1"

    def transcribe(self, path: Path) -> list[Cue]:
        raise RuntimeError("the model ran out of memory")


def build(library: Path, index_dir: Path, encoder, transcriber):
    options = dict(frames=2, segments="fixed", segment_seconds=10, workers=1, progress=False, previews="off")
    return build_index(encoder, BuildOptions(library, index_dir, transcriber=transcriber, **options))


def hits(index_dir: Path, query: str) -> list[tuple[str, str, float | None, str]]:
    reader = IndexReader(index_dir)
    try:
        out = []
        for hit in reader.search_texts(query, 10):
            start = None if hit.segment_id is None else reader.segments([hit.segment_id])[hit.segment_id].start
            out.append((reader.video_record(hit.video_id).title, hit.source, start, hit.snippet))
        return out
    finally:
        reader.close()


@pytest.fixture()
def library(tmp_path):
    make_video(tmp_path / "lib" / "talk.mp4", 20, color=(200, 40, 40))
    return tmp_path / "lib"


def test_a_transcript_is_searched_by_the_segment_it_was_said_in(library, tmp_path, _tiny_encoder):
    speech = FixedCues([Cue(12.0, 15.0, "the xylophone quartet", SPEECH)])
    report = build(library, tmp_path / "index", _tiny_encoder, speech)
    assert report.texts_read == 1 and not report.failed and speech.files == ["talk.mp4"]
    [(title, source, start, snippet)] = hits(tmp_path / "index", "xylophone")
    assert (title, source, start) == ("talk.mp4", SPEECH, 10.0)  # 12-15 s lies in the second 10 s segment
    assert "xylophone" in snippet
    reader = IndexReader(tmp_path / "index")
    try:
        assert reader.facets().with_subtitles == 0  # a transcript is not subtitles
    finally:
        reader.close()


def test_a_new_transcriber_reads_the_words_again_and_the_same_one_does_not(library, tmp_path, _tiny_encoder):
    index_dir = tmp_path / "index"
    build(library, index_dir, _tiny_encoder, FixedCues([Cue(1.0, 3.0, "first take", SPEECH)], "model:a"))
    same = FixedCues([Cue(1.0, 3.0, "second take", SPEECH)], "model:a")
    assert (build(library, index_dir, _tiny_encoder, same).texts_read, same.files) == (0, [])
    other = FixedCues([Cue(1.0, 3.0, "second take", SPEECH)], "model:b")
    report = build(library, index_dir, _tiny_encoder, other)
    assert (report.texts_read, report.segments) == (1, 0)  # words read again, nothing embedded again
    assert hits(index_dir, "first") == [] and [h[1] for h in hits(index_dir, "second")] == [SPEECH]


def test_a_failing_transcriber_costs_only_the_transcript(library, tmp_path, _tiny_encoder, caplog):
    with caplog.at_level(logging.WARNING):
        report = build(library, tmp_path / "index", _tiny_encoder, Broken())
    assert report.indexed == 1 and not report.failed and report.texts_read == 1
    assert "cannot transcribe its speech (the model ran out of memory)" in caplog.text
    assert [h[1] for h in hits(tmp_path / "index", "talk")] == ["name"]  # its name's words are there


def test_the_stamp_names_the_transcriber_only_when_there_is_one(tmp_path):
    video = make_video(tmp_path / "a.mp4", 2)
    plain = text_stamp(video, "fp")
    assert text_stamp(video, "fp", transcriber="") == plain  # an index built without speech is not read again
    assert text_stamp(video, "fp", transcriber="m:1") == f"{plain}|speech:m:1"


@dataclass
class Segment:
    start: float
    end: float
    text: str


def test_speech_cues_are_cleaned_and_moved_onto_the_indexers_clock():
    cues = speech_cues([Segment(0.0, 1.5, " <i>hello</i> there "), Segment(2.0, 2.5, " "), Segment(3.0, 4.0, "bye")], 0.25)
    assert cues == [Cue(0.25, 1.75, "hello there", SPEECH), Cue(3.25, 4.25, "bye", SPEECH)]
    assert speech_cues([Segment(0.0, 1.0, "early")], -0.5) == [Cue(0.0, 0.5, "early", SPEECH)]


def test_audio_offset_is_none_without_audio_and_near_zero_with_it(tmp_path):
    assert audio_offset(make_video(tmp_path / "silent.mp4", 2)) is None
    with_audio = write_sample(tmp_path, "h264.mp4", seconds=2.0)
    assert abs(audio_offset(with_audio)) < 0.1


def test_faster_whisper_wants_a_model_directory_on_disk(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        FasterWhisper(tmp_path / "small")  # a model's name is not enough: it would be downloaded
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no model.bin, config.json"):
        FasterWhisper(tmp_path / "empty")


def test_faster_whisper_without_the_extra_names_it(tmp_path, monkeypatch):
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.bin").write_bytes(b"\0")
    (model / "config.json").write_text("{}")
    monkeypatch.setitem(__import__("sys").modules, "faster_whisper", None)  # as where the extra is not installed
    with pytest.raises(RuntimeError, match=r"pip install 'vidseek\[asr\]'"):
        FasterWhisper(model)


def test_the_cli_says_what_is_wrong_with_the_model_folder_before_loading_a_model(tmp_path):
    make_video(tmp_path / "lib" / "a.mp4", 2)
    command = [sys.executable, "-m", "app.cli", "index", "build", str(tmp_path / "lib"), "--index-dir", str(tmp_path / "ix")]
    done = subprocess.run([*command, "--transcribe", str(tmp_path / "small")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no such model directory" in done.stderr and "nothing is downloaded" in done.stderr
    assert not (tmp_path / "ix").exists()  # nothing was built


class FakeWhisper(FixedCues):
    """Stands in for FasterWhisper in the command line: what it was made with, and a record like its."""

    made: list[tuple[str, str | None]] = []

    def __init__(self, folder, language=None, device="cpu"):
        super().__init__([Cue(1.0, 2.0, "spoken marmalade", SPEECH)], f"fake:{folder}:{language}")
        self.folder, self.language = Path(folder), language
        FakeWhisper.made.append((str(folder), language))

    def record(self) -> dict:
        return {"kind": "fake", "model_dir": str(self.folder), "language": self.language}


def test_later_builds_transcribe_as_the_index_was_built_until_told_not_to(tmp_path, monkeypatch):
    from app.cli import main

    monkeypatch.setattr("indexer.texts.FasterWhisper", FakeWhisper)
    FakeWhisper.made = []
    make_video(tmp_path / "lib" / "a.mp4", 2)
    index_dir = tmp_path / "ix"
    build = ["index", "build", str(tmp_path / "lib"), "--index-dir", str(index_dir), "--model", "vidseek-tiny"]
    build += ["--pretrained", "none", "--frames", "2", "--no-progress"]
    assert main([*build, "--transcribe", str(tmp_path / "model"), "--transcribe-language", "de"]) == 0
    manifest = json.loads((current_generation(index_dir) / "manifest.json").read_text())
    assert manifest["extra"]["transcriber"] == {"kind": "fake", "model_dir": str(tmp_path / "model"), "language": "de"}
    assert [h[1] for h in hits(index_dir, "marmalade")] == [SPEECH]
    make_video(tmp_path / "lib" / "b.mp4", 2)
    assert main(build) == 0  # a job's or the watcher's build: no --transcribe given
    assert FakeWhisper.made == [(str(tmp_path / "model"), "de")] * 2
    assert [h[1] for h in hits(index_dir, "marmalade")] == [SPEECH, SPEECH]  # the new file's speech too
    assert main([*build, "--no-transcribe"]) == 0 and len(FakeWhisper.made) == 2
    assert hits(index_dir, "marmalade") == []  # its words read again, without speech
