"""A build reads the words its files carry (the text stage): subtitle cues by segment from a sidecar and from an
embedded stream, names and titles once per video, and the facets (created, folder, has_subtitles); the catalog's
full-text index finds them, in SQLite (FTS5) and in PostgreSQL (tsvector); an edited sidecar is read again without
re-embedding anything; an index from before the stage gets its words on the next build."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from indexer import IndexReader, current_generation
from indexer.index_dir.catalog import Base, connect
from indexer.index_dir.text import END_MARK, MARK, query_terms
from indexer.pipeline.local import build_index
from indexer.pipeline.options import BuildOptions
from tests.subtitles import write_subtitled_video
from tests.videos import make_video

POSTGRES = os.environ.get("VIDSEEK_TEST_POSTGRES_URL")
SRT = "1\n00:00:12,000 --> 00:00:15,000\nthe xylophone plays\n\n2\n00:00:02,000 --> 00:00:04,000\ngood morning\n"


def make_library(root: Path) -> Path:
    library = root / "lib"
    make_video(library / "talks" / "interview.mp4", 20, color=(200, 40, 40))
    (library / "talks" / "interview.en.srt").write_text(SRT)
    write_subtitled_video(library / "films" / "subbed.mkv", [(5.0, 8.0, "a quokka smiles")], "subrip", title="Island")
    make_video(library / "holidays" / "marmalade_2019.mp4", 4, color=(40, 200, 40))
    return library


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request):
    if request.param == "sqlite":
        return None
    if not POSTGRES:
        pytest.skip("set VIDSEEK_TEST_POSTGRES_URL to a PostgreSQL database (CI does)")
    engine = connect(POSTGRES, readonly=True)
    Base.metadata.drop_all(engine)
    engine.dispose()
    return POSTGRES


def build(library: Path, index_dir: Path, encoder, db_url, **options):
    opts = dict(frames=2, segments="fixed", segment_seconds=10, workers=1, progress=False, previews="off", db_url=db_url)
    return build_index(encoder, BuildOptions(library, index_dir, **(opts | options)))


def found(reader: IndexReader, query: str) -> list[tuple[str, str, float | None, str]]:
    """(file name, source, the matched segment's start or None, snippet) of each hit, best first."""
    out = []
    for hit in reader.search_texts(query, 10):
        title = reader.video_record(hit.video_id).title
        start = None if hit.segment_id is None else reader.segments([hit.segment_id])[hit.segment_id].start
        out.append((title, hit.source, start, hit.snippet))
    return out


def test_the_words_of_sidecars_streams_and_names_are_found_by_segment(tmp_path, _tiny_encoder, db_url):
    library = make_library(tmp_path)
    report = build(library, tmp_path / "index", _tiny_encoder, db_url)
    assert report.texts_read == 3 and not report.failed
    reader = IndexReader(tmp_path / "index", db_url=db_url)
    try:
        assert found(reader, "xylophone") == [
            ("interview.mp4", "subtitle", 10.0, f"the {MARK}xylophone{END_MARK} plays")  # 12-15 s: the second segment
        ]
        assert found(reader, "quokka") == [("subbed.mkv", "subtitle", 0.0, f"a {MARK}quokka{END_MARK} smiles")]
        assert found(reader, "marmalade") == [("marmalade_2019.mp4", "name", None, f"holidays {MARK}marmalade{END_MARK} 2019")]
        assert [h[:2] for h in found(reader, "island")] == [("subbed.mkv", "title")]
        assert [h[0] for h in found(reader, "xyloph")] == ["interview.mp4"]  # the last word is a prefix too
        assert found(reader, "!!! ()") == [] and found(reader, "nothing-like-it") == []
        records = {v.title: v for v in reader.video_records()}
        assert reader.search_texts('" OR *', 5) == []  # FTS syntax is no syntax: these are no words
    finally:
        reader.close()
    facts = catalog_rows(tmp_path / "index", db_url, "SELECT path, folder, has_subtitles, created FROM videos")
    by_name = {Path(path).name: (folder, bool(subs), created) for path, folder, subs, created in facts}
    assert by_name["interview.mp4"][:2] == ("talks", True) and by_name["subbed.mkv"][:2] == ("films", True)
    assert by_name["marmalade_2019.mp4"][:2] == ("holidays", False)
    mtime = datetime.fromtimestamp((library / "holidays" / "marmalade_2019.mp4").stat().st_mtime, UTC)
    assert abs((as_utc(by_name["marmalade_2019.mp4"][2]) - mtime).total_seconds()) < 1  # no creation_time: its mtime
    assert len(records) == 3


def as_utc(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def catalog_rows(index_dir: Path, db_url, sql: str) -> list[tuple]:
    if db_url is None:
        with sqlite3.connect(current_generation(index_dir) / "catalog.db") as db:
            return db.execute(sql).fetchall()
    from sqlalchemy import text

    engine = connect(db_url, readonly=True)
    try:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.execute(text(sql))]
    finally:
        engine.dispose()


def test_an_edited_sidecar_is_read_again_without_re_embedding(tmp_path, _tiny_encoder, db_url):
    library = make_library(tmp_path)
    build(library, tmp_path / "index", _tiny_encoder, db_url)
    again = build(library, tmp_path / "index", _tiny_encoder, db_url)
    assert (again.indexed, again.texts_read) == (0, 0)  # nothing changed: nothing read
    (library / "talks" / "interview.en.srt").write_text(SRT.replace("xylophone", "theremin"))
    edited = build(library, tmp_path / "index", _tiny_encoder, db_url)
    assert (edited.indexed, edited.segments, edited.texts_read) == (0, 0, 1)
    (library / "holidays" / "marmalade_2019.fr.srt").write_text("00:00:01,000 --> 00:00:02,000\nconfiture\n")
    added = build(library, tmp_path / "index", _tiny_encoder, db_url)
    assert (added.indexed, added.texts_read) == (0, 1)
    reader = IndexReader(tmp_path / "index", db_url=db_url)
    try:
        assert found(reader, "xylophone") == [] and [h[0] for h in found(reader, "theremin")] == ["interview.mp4"]
        assert [h[:3] for h in found(reader, "confiture")] == [("marmalade_2019.mp4", "subtitle", 0.0)]
    finally:
        reader.close()


def test_an_index_from_before_the_stage_gets_its_words_on_the_next_build(tmp_path, _tiny_encoder):
    library = make_library(tmp_path)
    build(library, tmp_path / "index", _tiny_encoder, None)
    with sqlite3.connect(current_generation(tmp_path / "index") / "catalog.db") as db:  # as a 0003 catalog upgraded
        db.execute("DELETE FROM texts")
        db.execute("UPDATE videos SET texts_stamp = NULL, folder = NULL, has_subtitles = NULL, created = NULL")
    report = build(library, tmp_path / "index", _tiny_encoder, None)
    assert (report.indexed, report.texts_read) == (0, 3)
    reader = IndexReader(tmp_path / "index")
    try:
        assert [h[0] for h in found(reader, "xylophone")] == ["interview.mp4"]
    finally:
        reader.close()


def test_query_terms_are_words_only():
    assert query_terms('Birthday "2019" OR drone* -x') == ["birthday", "2019", "or", "drone", "x"]
    assert query_terms("  ") == [] and len(query_terms("a " * 100)) == 16


def test_search_finds_each_word_first_with_its_segment_and_snippet(tmp_path, _tiny_encoder, db_url):
    """The issue's library: a sidecar's word at 12-15 s, an embedded track's word, a word only in a file name."""
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.services import VidseekService
    from app.settings import Settings

    library = make_library(tmp_path)
    for i in range(6):  # others, so that a first place means something
        make_video(library / "misc" / f"clip{i}.mp4", 12, color=(30 * i, 100, 200 - 30 * i))
    build(library, tmp_path / "index", _tiny_encoder, db_url)
    settings = Settings(index_dir=tmp_path / "index", db_url=db_url, text_precision="float32")
    with TestClient(create_app(settings, VidseekService(settings, encoder=_tiny_encoder))) as client:
        for words, title, start, snippet, source in [
            ("xylophone", "interview.mp4", 10.0, "the xylophone plays", "subtitle"),
            ("quokka", "subbed.mkv", 0.0, "a quokka smiles", "subtitle"),
            ("marmalade", "marmalade_2019.mp4", 0.0, "holidays marmalade 2019", "name"),
        ]:
            body = client.get("/search", params={"q": words, "k": 5, "group": "segment"}).json()
            assert body["ranking"] == "hybrid"
            top = body["results"][0]
            assert (top["title"], top["start"]) == (title, start), (words, body["results"])
            assert top["matched"][-1] == source and top["snippet"]["text"] == snippet
            mark = top["snippet"]["marks"][0]
            assert snippet[mark[0] : mark[1]] == words
            text_only = client.get("/search", params={"q": words, "mode": "text"}).json()
            assert text_only["ranking"] == "text" and [r["title"] for r in text_only["results"]] == [title]
            assert text_only["results"][0]["matched"] == [source]  # no visual rank in text mode
        visual = client.get("/search", params={"q": "xylophone", "mode": "visual", "k": 20, "group": "segment"}).json()
        assert {tuple(r["matched"]) for r in visual["results"]} == {("visual",)}
        assert all(r["snippet"] is None for r in visual["results"])
        scores = [r["score"] for r in visual["results"]]
        assert scores == sorted(scores, reverse=True)
        # Weight 0: the words add nothing, the order is the visual one.
        unweighted = client.get("/search", params={"q": "xylophone", "text_weight": 0, "k": 20, "group": "segment"}).json()
        assert [r["segment_id"] for r in unweighted["results"]] == [r["segment_id"] for r in visual["results"]]
        moments = client.get("/search", params={"q": "xylophone", "k": 3}).json()["results"]
        assert moments[0]["title"] == "interview.mp4" and "subtitle" in moments[0]["matched"]
        above = client.get("/search", params={"q": "xylophone", "min_score": 0.99}).json()
        assert above["results"] == []  # min_score bounds the cosine of a match by words too
        for bad in ({"mode": "words"}, {"text_weight": -1}, {"text_weight": "nan"}, {"text_weight": 11}):
            assert client.get("/search", params={"q": "x", **bad}).status_code == 422, bad


def test_the_cli_searches_words_as_the_api_does(tmp_path, _tiny_encoder, capsys):
    from app import cli
    from app.cli.query import SEARCH_RANKINGS
    from app.services.search import RANKINGS

    assert SEARCH_RANKINGS == RANKINGS
    build(make_library(tmp_path), tmp_path / "index", _tiny_encoder, None)
    base = ["search", "xylophone", "-k", "2", "--index-dir", str(tmp_path / "index")]
    assert cli.main([*base, "--mode", "text"]) == 0
    first, row = capsys.readouterr().out.splitlines()
    assert first.startswith("1 of 1 moments in ") and first.endswith("(text)")
    assert "interview.mp4" in row and '"the xylophone plays" (subtitle)' in row
    assert cli.main([*base, "--json", "--group", "segment"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["ranking"] == "hybrid" and body["results"][0]["snippet"]["text"] == "the xylophone plays"
    assert cli.main([*base, "--text-weight", "-1"]) == 2
    assert "--text-weight must be between 0 and 10" in capsys.readouterr().err


def test_facet_filters_restrict_the_search_itself_and_sort_reorders(tmp_path, _tiny_encoder):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.services import VidseekService
    from app.settings import Settings

    library = make_library(tmp_path)
    for i in range(5):
        make_video(library / "misc" / "deep" / f"clip{i}.mp4", 12 + 2 * i, color=(40 * i, 90, 200 - 40 * i))
    old = datetime(2019, 6, 1, tzinfo=UTC).timestamp()
    os.utime(library / "holidays" / "marmalade_2019.mp4", (old, old))
    build(library, tmp_path / "index", _tiny_encoder, None)
    settings = Settings(index_dir=tmp_path / "index", text_precision="float32")
    service = VidseekService(settings, encoder=_tiny_encoder)
    with TestClient(create_app(settings, service)) as client:

        def titles(**params) -> list[str]:
            body = client.get("/search", params={"q": "a clip", "k": 50, "group": "segment", **params})
            assert body.status_code == 200, body.text
            return [r["title"] for r in body.json()["results"]]

        assert set(titles(folder="talks")) == {"interview.mp4"}
        assert set(titles(folder="misc")) == {f"clip{i}.mp4" for i in range(5)}  # the folders inside it too
        assert set(titles(folder="misc/deep/")) == set(titles(folder="misc")) and titles(folder="mis") == []
        assert set(titles(has_subtitles="true")) == {"interview.mp4", "subbed.mkv"}
        assert "interview.mp4" not in titles(has_subtitles="false")
        assert "marmalade_2019.mp4" not in titles(min_duration=10) and set(titles(max_duration=5)) == {"marmalade_2019.mp4"}
        assert set(titles(before="2020-01-01")) == {"marmalade_2019.mp4"}
        assert "marmalade_2019.mp4" not in titles(after="2020-01-01T00:00:00+01:00")
        tall = titles(min_height=49)  # subbed.mkv is 64x48, the others 96 high
        assert "subbed.mkv" not in tall and "interview.mp4" in tall and "subbed.mkv" in titles(min_height=48)
        # The filter is the vector search's own: the top k among the filtered segments, exactly.
        reader = service.reader
        text = service.queries.encode("a clip")
        misc = [s for v in reader.video_records() if "misc" in v.path for s in reader.video_segments(v.video_id)]
        want = sorted(misc, key=lambda s: -float(reader.segment_vector(s.segment_id) @ text))[:3]
        body = client.get("/search", params={"q": "a clip", "k": 3, "group": "segment", "mode": "visual", "folder": "misc"})
        assert [r["segment_id"] for r in body.json()["results"]] == [s.segment_id for s in want]
        # Sorting reorders the candidates: the newest first (the 2019 file last), the longest first.
        assert titles(sort="date", group="video")[-1] == "marmalade_2019.mp4"
        durations = client.get("/search", params={"q": "a clip", "k": 50, "group": "video", "sort": "duration"}).json()
        lengths = [reader.video_record(r["video_id"]).duration for r in durations["results"]]
        assert lengths == sorted(lengths, reverse=True)
        for bad in ({"after": "yesterday"}, {"min_duration": -1}, {"min_height": "tall"}, {"sort": "size"},
                    {"has_subtitles": "maybe"}, {"folder": "a\x00b"}):  # fmt: skip
            assert client.get("/search", params={"q": "x", **bad}).status_code == 422, bad


def test_facets_say_what_the_filters_take_and_a_codec_filter_keeps_those_codecs(tmp_path, _tiny_encoder):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.services import VidseekService
    from app.settings import Settings

    library = make_library(tmp_path)
    make_video(library / "talks" / "old" / "lecture.mp4", 6, codec="mpeg4", color=(90, 90, 90))
    (library / "broken.mp4").write_bytes(b"not a video")  # failed: not among the facets
    build(library, tmp_path / "index", _tiny_encoder, None)
    settings = Settings(index_dir=tmp_path / "index", text_precision="float32")
    service = VidseekService(settings, encoder=_tiny_encoder)
    with TestClient(create_app(settings, service)) as client:
        facets = client.get("/facets").json()
        assert facets["videos"] == 4 and facets["kinds"] == {"video": 4}
        assert facets["codecs"] == {"h264": 3, "mpeg4": 1}  # the most common first
        assert facets["folders"] == {"films": 1, "holidays": 1, "talks": 1, "talks/old": 1}
        assert facets["heights"] == {"96": 3, "48": 1} and facets["with_subtitles"] == 2
        assert (facets["shortest"], facets["longest"]) == (pytest.approx(4, abs=0.2), pytest.approx(20, abs=0.2))
        assert facets["first_created"] <= facets["last_created"]

        def titles(**params) -> set[str]:
            body = client.get("/search", params={"q": "a clip", "k": 50, "group": "video", **params})
            assert body.status_code == 200, body.text
            return {r["title"] for r in body.json()["results"]}

        assert titles(codec="mpeg4") == {"lecture.mp4"}
        assert titles(codec="H264, mpeg4") == titles() == {"interview.mp4", "subbed.mkv", "marmalade_2019.mp4", "lecture.mp4"}
        assert titles(codec="vp9") == set() and titles(codec="mpeg4", folder="films") == set()
        for bad in ("", ",", "h264;drop", "x" * 33, ",".join(f"c{i}" for i in range(17))):
            response = client.get("/search", params={"q": "x", "codec": bad})
            assert response.status_code == 422 and "codec" in response.text, bad
        # The page offers the codecs with their counts, and the folders and their parents to pick from.
        page = client.get("/", params={"q": "a clip", "codec": "mpeg4"}).text
        assert '<option value="mpeg4" selected>mpeg4 (1)</option>' in page and '<option value="h264">h264 (3)</option>' in page
        assert '<option value="talks"><option value="talks/old">' in page


def test_folder_choices_name_every_parent_once():
    from app.routes.pages import folder_choices

    assert folder_choices(["a/b/c", "a/d", "", "e"]) == ["a", "a/b", "a/b/c", "a/d", "e"]
    assert folder_choices(["z", "y", "x"], limit=2) == ["x", "y"]


def test_the_cli_filters_as_the_api_does(tmp_path, _tiny_encoder, capsys):
    from app import cli
    from app.cli.query import SEARCH_SORTS
    from app.services.search import SORTS

    assert SEARCH_SORTS == SORTS
    build(make_library(tmp_path), tmp_path / "index", _tiny_encoder, None)
    base = ["search", "a clip", "-k", "10", "--json", "--group", "video", "--index-dir", str(tmp_path / "index")]
    assert cli.main([*base, "--folder", "films"]) == 0
    assert [r["title"] for r in json.loads(capsys.readouterr().out)["results"]] == ["subbed.mkv"]
    assert cli.main([*base, "--subtitles", "no", "--sort", "duration"]) == 0
    assert [r["title"] for r in json.loads(capsys.readouterr().out)["results"]] == ["marmalade_2019.mp4"]
    assert cli.main([*base, "--after", "next tuesday"]) == 2
    assert "--after: not an ISO 8601 date" in capsys.readouterr().err
    assert cli.main([*base, "--codec", "h264", "--folder", "holidays"]) == 0
    assert [r["title"] for r in json.loads(capsys.readouterr().out)["results"]] == ["marmalade_2019.mp4"]
    assert cli.main([*base, "--codec", "mpeg4"]) == 0
    assert json.loads(capsys.readouterr().out)["results"] == []
    assert cli.main([*base, "--codec", "h.264"]) == 2
    assert "--codec: not a codec name: 'h.264'" in capsys.readouterr().err
