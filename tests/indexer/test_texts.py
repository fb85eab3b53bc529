"""The words a file carries: SubRip and WebVTT cues (markup, encodings, sloppy files), sidecar files beside a video,
embedded subtitle streams (mov_text, SubRip, ASS, WebVTT), the words of a file's name and its container's title."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.texts import Cue, cues_by_segment, file_texts, parse_timed_text, sidecar_stamp, sidecars_of
from indexer.texts.cues import clean_text
from indexer.texts.embedded import embedded_cues
from indexer.texts.names import container_text, name_words
from indexer.texts.sidecars import MAX_SIDECAR_BYTES, decode_text_file, read_sidecar
from tests.subtitles import FORMATS, write_subtitled_video

SRT = """1
00:00:01,000 --> 00:00:03,500
Hello <i>world</i>

2
00:00:12,000 --> 00:00:15,000
the <font color="red">xylophone</font> plays
second line
3
00:00:16,250 --> 00:00:17,000
{\\an8}no blank line before me &amp; you

4
00:00:20,000 --> 00:00:19,000
ends before it starts

5
00:00:21,000 --> 00:00:22,000

"""

VTT = """WEBVTT - a title

NOTE a comment
00:00:01.000 --> 00:00:02.000 is not a cue here

STYLE
::cue { color: yellow }

intro
00:01.500 --> 00:04.000 align:start position:10%
<v Alice>It's <c.loud>here</c></v>

01:00:00.000 --> 01:00:02.500
an hour <00:00:00.500>in
"""


def test_subrip_cues_lose_their_markup_and_keep_their_times():
    cues = parse_timed_text(SRT)
    assert [(c.start, c.end, c.text) for c in cues] == [
        (1.0, 3.5, "Hello world"),
        (12.0, 15.0, "the xylophone plays second line"),
        (16.25, 17.0, "no blank line before me & you"),
    ]
    assert parse_timed_text(SRT.replace("\n", "\r\n")) == cues  # Windows line ends
    assert {c.source for c in cues} == {"subtitle"}


def test_webvtt_cues_skip_notes_and_styles_and_read_hourless_times():
    cues = parse_timed_text(VTT)
    assert [(c.start, c.end, c.text) for c in cues] == [(1.5, 4.0, "It's here"), (3600.0, 3602.5, "an hour in")]


def test_encodings_of_real_subtitle_files():
    text = "00:00:01,000 --> 00:00:02,000\ncafé crème\n"
    for data in (text.encode("utf-8"), b"\xef\xbb\xbf" + text.encode("utf-8"), text.encode("utf-16"), text.encode("cp1252")):
        assert parse_timed_text(decode_text_file(data))[0].text == "café crème"
    assert clean_text("a\\Nb {\\i1}c{\\i0}  d") == "a b c d"


def test_cues_belong_to_every_segment_they_overlap():
    cues = [Cue(1.0, 3.0, "a"), Cue(9.5, 10.5, "over the cut"), Cue(12.0, 15.0, "b"), Cue(20.0, 21.0, "after")]
    spans = [(0.0, 10.0), (10.0, 20.0), (0.0, 0.0)]
    assert [[c.text for c in found] for found in cues_by_segment(cues, spans)] == [
        ["a", "over the cut"],
        ["over the cut", "b"],  # "after" starts where the segment ends: not in it
        [],
    ]


def test_sidecars_are_the_subtitle_files_that_name_the_video(tmp_path):
    names = ["clip.mp4", "clip.srt", "clip.en.srt", "clip.pt-BR.forced.vtt", "clip.b.srt", "clip2.srt", "clip.en.mp4",
             "clip.txt", "other.srt", "clip.ENG.SDH.SRT"]  # fmt: skip
    for name in names:
        (tmp_path / name).write_text("00:00:01,000 --> 00:00:02,000\nx\n")
    found = [p.name for p in sidecars_of(tmp_path / "clip.mp4")]
    assert found == ["clip.ENG.SDH.SRT", "clip.pt-BR.forced.vtt", "clip.srt"]  # clip.en.srt: clip.en.mp4's
    assert sidecars_of(tmp_path / "clip.mp4", names) == sidecars_of(tmp_path / "clip.mp4")
    assert [p.name for p in sidecars_of(tmp_path / "clip.en.mp4")] == ["clip.en.srt"]  # named exactly after it


def test_a_sidecars_stamp_changes_when_it_is_edited_added_or_removed(tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")
    assert sidecar_stamp(sidecars_of(video)) == ""
    (tmp_path / "v.srt").write_text("00:00:01,000 --> 00:00:02,000\none\n")
    first = sidecar_stamp(sidecars_of(video))
    (tmp_path / "v.srt").write_text("00:00:01,000 --> 00:00:02,000\none more\n")
    assert sidecar_stamp(sidecars_of(video)) not in ("", first)
    (tmp_path / "v.de.srt").write_text("00:00:01,000 --> 00:00:02,000\neins\n")
    assert "v.de.srt" in sidecar_stamp(sidecars_of(video))


def test_an_oversized_or_unreadable_sidecar_is_no_cue(tmp_path, caplog):
    big = tmp_path / "big.srt"
    with big.open("wb") as f:
        f.truncate(MAX_SIDECAR_BYTES + 1)
    assert read_sidecar(big) == [] and "not read" in caplog.text
    assert read_sidecar(tmp_path / "gone.srt") == []


@pytest.mark.parametrize("codec", sorted(FORMATS))
def test_embedded_text_subtitles_are_read_on_the_videos_clock(tmp_path, codec):
    cues = [(1.0, 3.5, "hello there"), (12.0, 15.0, "the xylophone plays")]
    path = write_subtitled_video(tmp_path / f"v.{'mp4' if codec == 'mov_text' else 'mkv'}", cues, codec)
    found = embedded_cues(path)
    assert [(c.start, c.end, c.text) for c in found] == cues
    assert embedded_cues(path, t0=0.5)[1].start == 11.5


def test_a_video_without_subtitles_or_a_broken_file_has_no_cues(tmp_path):
    from tests.videos import make_video

    assert embedded_cues(make_video(tmp_path / "plain.mp4", 1)) == []
    broken = tmp_path / "broken.mkv"
    broken.write_bytes(b"\x1a\x45\xdf\xa3" + b"\0" * 100)
    assert embedded_cues(broken) == []


def test_name_words_split_folders_names_and_numbers(tmp_path):
    path = tmp_path / "Birthday_2019" / "drone-shots" / "GOPR0042_beachSunset.MP4"
    assert name_words(path, tmp_path) == "Birthday 2019 drone shots GOPR0042 GOPR 0042 beachSunset beach Sunset"
    assert name_words(Path("/elsewhere/x.mp4"), tmp_path) == "x"  # outside the library: the name alone


def test_file_texts_gathers_sidecars_streams_name_and_title(tmp_path):
    import av

    path = write_subtitled_video(tmp_path / "lib" / "party" / "cake.mp4", [(2.0, 4.0, "blow the candles")])
    (tmp_path / "lib" / "party" / "cake.en.srt").write_text("00:00:12,000 --> 00:00:15,000\nzebra crossing\n")
    with av.open(str(path)) as container:
        assert not container.metadata.get("title")
    assert container_text(path) == ""
    texts = file_texts(path, tmp_path / "lib")
    assert [(c.start, c.text) for c in texts.cues] == [(2.0, "blow the candles"), (12.0, "zebra crossing")]
    assert texts.name == "party cake" and texts.sidecars == ["cake.en.srt"] and texts.has_subtitles
    titled = write_subtitled_video(tmp_path / "t.mp4", [], title="Grandma's 80th", comment="garden party")
    assert container_text(titled) == "Grandma's 80th garden party" and file_texts(titled).cues == []
    photo = file_texts(tmp_path / "lib" / "party" / "IMG_0001.jpg", tmp_path / "lib", photo=True)
    assert photo.name == "party IMG 0001" and photo.cues == [] and not photo.has_subtitles
