"""Words beside pixels: a query's matches in the catalog's texts (subtitles by segment, names and titles by video)
ranked as segments, and fused with the visual ranking by reciprocal rank fusion (k = :data:`RRF_K`): a segment's
fused score is ``1 / (k + visual rank) + text_weight / (k + text rank)`` over the ranks it has (1 = best). A
video's name or title stands for the video's best segment in the visual ranking, else its first.

Each fused row says why it matched (``visual``, ``subtitle``, ``name``, ``title``) and, for words, a snippet with
the matched words marked (:func:`snippet_of`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from indexer import IndexReader, SegmentRecord
from indexer.index_dir.text import END_MARK, MARK

RRF_K = 60
POOL = 200  # the visual and the text candidates a fused ranking is made of, each
VISUAL = "visual"
_MARKS = re.compile(f"({re.escape(MARK)}|{re.escape(END_MARK)})")


@dataclass(frozen=True)
class Snippet:
    """Words of a matching text with ``marks``, the (start, end) character ranges of the matched words."""

    text: str
    marks: tuple[tuple[int, int], ...] = ()


def snippet_of(marked: str) -> Snippet:
    """A snippet from a full-text hit's words, whose matched words sit between the index's marks."""
    out: list[str] = []
    marks = []
    length, start = 0, None
    for piece in _MARKS.split(marked):  # a hybrid query reads up to POOL snippets: by runs of text, not characters
        if piece == MARK:
            start = length
        elif piece == END_MARK:
            if start is not None and length > start:
                marks.append((start, length))
            start = None
        elif piece:
            out.append(piece)
            length += len(piece)
    return Snippet("".join(out), tuple(marks))


@dataclass(frozen=True)
class Fused:
    """One segment of a fused ranking: its fused score, its cosine with the query, why it matched, its snippet."""

    segment_id: int
    score: float
    cosine: float
    matched: tuple[str, ...]
    snippet: Snippet | None


def text_ranking(
    reader: IndexReader,
    query: str,
    visual: list[tuple[int, float]],
    allowed: Callable[[int], bool],
    records: Mapping[int, SegmentRecord],
) -> list[tuple[int, str, Snippet]]:
    """The segments the words ``query`` match, best first, each once: (segment id, source, snippet). A cue names its
    segment; a name or title the video's best segment among ``visual`` (ranked (id, cosine); ``records``: their
    catalog records, by id, as the caller read them), else its first. Segments ``allowed`` refuses (a filter) are
    left out."""
    hits = reader.search_texts(query, POOL)
    if not hits:
        return []
    best_of_video: dict[int, int] = {}
    for segment_id, _ in visual:
        record = records.get(segment_id)
        if record is not None:
            best_of_video.setdefault(record.video_id, segment_id)
    unranked = {h.video_id for h in hits if h.segment_id is None and h.video_id not in best_of_video}
    first_of_video = reader.first_segment_ids(unranked)  # one catalog query for all of them
    ranked: dict[int, tuple[str, Snippet]] = {}
    for hit in hits:
        segment_id = hit.segment_id
        if segment_id is None:
            segment_id = best_of_video.get(hit.video_id, first_of_video.get(hit.video_id))
        if segment_id is None or segment_id in ranked or not allowed(segment_id):
            continue
        ranked[segment_id] = (hit.source, snippet_of(hit.snippet))
    return [(segment_id, source, snippet) for segment_id, (source, snippet) in ranked.items()]


def fuse(
    visual: list[tuple[int, float]],
    text: list[tuple[int, str, Snippet]],
    cosine: Callable[[int], float],
    text_weight: float = 1.0,
    use_visual: bool = True,
) -> list[Fused]:
    """The fused ranking of ``visual`` ((id, cosine), best first) and ``text`` (:func:`text_ranking`), best first
    (ties: the visual order, then the text order). Without ``use_visual`` (text mode) only the text ranking counts,
    and ``cosine(id)`` gives each row's cosine for display."""
    scores: dict[int, float] = {}
    cosines = dict(visual)
    matched: dict[int, list[str]] = {}
    snippets: dict[int, Snippet] = {}
    if use_visual:
        for rank, (segment_id, _) in enumerate(visual, 1):
            scores[segment_id] = 1.0 / (RRF_K + rank)
            matched[segment_id] = [VISUAL]
    for rank, (segment_id, source, snippet) in enumerate(text, 1):
        scores[segment_id] = scores.get(segment_id, 0.0) + text_weight / (RRF_K + rank)
        matched.setdefault(segment_id, []).append(source)
        snippets[segment_id] = snippet
    order = {segment_id: i for i, segment_id in enumerate(scores)}
    ranked = sorted(scores, key=lambda i: (-scores[i], order[i]))
    return [Fused(i, scores[i], cosines[i] if i in cosines else cosine(i), tuple(matched[i]), snippets.get(i)) for i in ranked]


def stored_cosine(reader: IndexReader, vector: np.ndarray) -> Callable[[int], float]:
    """A segment's cosine with ``vector`` from its stored vector (0 for one without: an external catalog mid-update)."""

    def cosine(segment_id: int) -> float:
        stored = reader.segment_vector(segment_id)
        return 0.0 if stored is None else float(np.asarray(stored, dtype=np.float32) @ vector)

    return cosine
