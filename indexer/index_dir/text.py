"""Full-text search over the catalog's ``texts`` (revision 0004) with one result contract for both dialects: SQLite's
FTS5 ranked by bm25, PostgreSQL's tsvector ranked by ts_rank. A query's words are matched as any of them, the last
one also as a prefix (a word being typed); a hit says which row matched, how well (higher is better; the two
dialects' scales differ, so only its rank order is compared across them) and its words with the matched ones
between :data:`MARK` and :data:`END_MARK`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Engine

MARK, END_MARK = "\ue000", "\ue001"  # private-use characters: never in a subtitle, easy to turn into markup
MAX_TERMS = 16  # words of a query that are matched (more would only slow the index down)
SNIPPET_WORDS = 16
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class TextHit:
    """A matching row of ``texts``: a segment's cue (``segment_id`` set) or a video's name or title (None)."""

    text_id: int
    video_id: int
    segment_id: int | None
    source: str
    score: float
    snippet: str


def query_terms(query: str) -> list[str]:
    """The words of ``query`` that are matched (letters and digits; punctuation and FTS operators are not words)."""
    return [w.lower() for w in _WORD.findall(query)][:MAX_TERMS]


def search_texts(engine: Engine, query: str, limit: int) -> list[TextHit]:
    """The ``limit`` best matching rows for the words of ``query``, best first ([] for a query without words)."""
    terms = query_terms(query)
    if not terms or limit <= 0:
        return []
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            rows = connection.execute(_POSTGRES, {"q": _tsquery(terms), "limit": limit, "options": _HEADLINE})
        else:
            rows = connection.execute(_SQLITE, {"q": _fts5_query(terms), "limit": limit, "mark": MARK, "end": END_MARK})
        return [TextHit(int(r[0]), int(r[1]), None if r[2] is None else int(r[2]), r[3], float(r[4]), r[5]) for r in rows]


def _fts5_query(terms: list[str]) -> str:
    quoted = [f'"{t}"' for t in terms]
    quoted[-1] += "*"
    return " OR ".join(quoted)


def _tsquery(terms: list[str]) -> str:
    quoted = [f"'{t}'" for t in terms]
    quoted[-1] += ":*"
    return " | ".join(quoted)


_SQLITE = text(
    "SELECT t.id, t.video_id, t.segment_id, t.source, -bm25(texts_fts) AS score, "
    f"snippet(texts_fts, 0, :mark, :end, '…', {SNIPPET_WORDS}) "
    "FROM texts_fts JOIN texts t ON t.id = texts_fts.rowid WHERE texts_fts MATCH :q ORDER BY score DESC, t.id LIMIT :limit"
)
_HEADLINE = f"StartSel={MARK}, StopSel={END_MARK}, MaxWords={SNIPPET_WORDS}, MinWords={SNIPPET_WORDS // 2}, ShortWord=0"
_POSTGRES = text(
    "SELECT t.id, t.video_id, t.segment_id, t.source, ts_rank(t.tsv, q) AS score, "
    "ts_headline('simple', t.body, q, :options) "
    "FROM texts t, to_tsquery('simple', :q) q WHERE t.tsv @@ q ORDER BY score DESC, t.id LIMIT :limit"
)
