"""Searching the current index: by words, by an indexed segment's own vector ("more like this"), by a picture; over
every segment or only those of one kind of file (videos, photos); one row per segment, per moment or per video; and
one query's score along a whole video (its timeline).

Every query goes through the server's one :class:`~app.batching.QueryEncoder`, so concurrent ones share an encoder
call and an index search. A kind is a filter on the search itself (the true top k among that kind's segments).

Moments: among a query's candidates (the top segments, see :func:`candidate_pool`), segments of one video whose times
touch (one ends where the next starts, within :data:`TOUCH_SECONDS`) are one moment: from the first's start to the
last's end, with the best one's score and id. Pages (``offset``, ``k``) are pages of moments (or of videos) among
those candidates, so every page of one search is cut from the same list while ``offset + k`` stays within
:data:`POOL_BLOCK` / :data:`POOL_DEPTH`."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from app.batching import QueryEncoder, Scored
from app.errors import NotFoundError
from app.services.current_index import CurrentIndex
from app.services.fusion import VISUAL, Snippet, fuse, stored_cosine, text_ranking
from app.services.records import RecordCache
from indexer import PHOTO_KIND, VIDEO_KIND, IndexReader, SegmentRecord, VideoFilter
from indexer.clips import decode_resampling, decode_short_side, image_frame
from models import VideoEncoder

KINDS = (VIDEO_KIND, PHOTO_KIND)  # what a search may be restricted to
GROUPS = ("moment", "video", "segment")  # one row per moment (the default), per video, or per segment
RELEVANCE = "relevance"
SORTS = (RELEVANCE, "date", "duration")  # rows in their rank order, the newest video first, the longest first
RANKINGS = ("hybrid", "visual", "text")  # pixels and words fused (the default where the index has words), or one
TOUCH_SECONDS = 0.04  # segments this close (a frame at 25 fps) touch: fixed windows and shots share their bounds
POOL_BLOCK = 256  # candidates are the top segments in blocks of this many ...
POOL_DEPTH = 4  # ... at least this many per row wanted (offset + k), so that adjacent ones are among them
MAX_POOL = 16_384  # the most candidates one page looks at


class Hit(NamedTuple):
    """A scored segment, or a moment: ``segment`` is the best segment (its poster; its id for "more like this"),
    ``score`` its cosine with the query, ``span`` the moment's (start, end) when it merged ``segments`` > 1
    segments. A named tuple, as :class:`~indexer.SegmentRecord` is: one is built for each of a query's candidates."""

    segment: SegmentRecord
    score: float
    span: tuple[float, float] | None = None
    segments: int = 1
    matched: tuple[str, ...] = (VISUAL,)  # why it is a result: visual, and where words matched (subtitle, name, title)
    snippet: Snippet | None = None  # the matched words in context, for a match by words

    @property
    def start(self) -> float:
        return self.span[0] if self.span else self.segment.start

    @property
    def end(self) -> float:
        return self.span[1] if self.span else self.segment.end


@dataclass(frozen=True)
class VideoHits:
    """One video's moments among a query's candidates, best first (``moments[0]`` is its best)."""

    moments: list[Hit]

    @property
    def best(self) -> Hit:
        return self.moments[0]


@dataclass(frozen=True)
class Timeline:
    """A query's cosine with each of a video's segments (time order), and the video's moments among its candidates."""

    video_id: int
    title: str
    segments: list[Hit]
    moments: list[Hit]


Rows = list[Hit] | list[VideoHits]
Ranked = tuple[Rows, int]  # one page of rows, and how many rows match in all (see candidate_rows)
Records = Callable[[Iterable[int]], dict[int, SegmentRecord]]  # segment ids -> the catalog's records of them, by id


class SegmentSearch:
    """Queries against the current index: ``queries`` embeds words; ``encoder`` embeds pictures. ``group``: one row
    per ``segment``, per ``moment`` (adjacent matching segments of a video merged) or per ``video``."""

    def __init__(self, index: CurrentIndex, encoder: VideoEncoder, queries: QueryEncoder):
        self.index = index
        self.encoder = encoder
        self.queries = queries
        self.records = RecordCache()

    def records_of(self, reader: IndexReader) -> Records:
        """``reader.segments``, through the server's record cache (:mod:`~app.services.records`)."""
        return lambda ids: self.records.records(reader, ids)

    def text(
        self,
        query: str,
        k: int,
        offset: int = 0,
        min_score: float | None = None,
        kind: str | None = None,
        group: str = "segment",
        ranking: str | None = None,
        text_weight: float = 1.0,
        videos: VideoFilter | None = None,
        sort: str = "relevance",
    ) -> Ranked:
        """The segments (moments, videos) nearest to the words ``query`` (of files of ``kind`` and of the videos
        ``videos`` lets through only, when given: the filter is the search's own, :func:`allowed_of`), ranked by
        ``ranking`` (:func:`ranking_of`; hybrid: :mod:`~app.services.fusion`) and then, by ``sort``, by date or
        duration among the query's candidates. ``min_score`` bounds every row's cosine, a match by words too (the
        score a row shows is its cosine)."""
        reader = self.index.require()
        allowed = allowed_of(reader, kind, videos)
        ranking = ranking_of(reader, ranking)
        check_sort(sort)

        def search(n: int, skip: int) -> Scored:
            return self.queries.search(reader, query, n, skip, min_score, allowed=allowed)

        fetch = self.records_of(reader)
        if ranking == VISUAL and sort == RELEVANCE:
            return paged(fetch, search, k, offset, group, min_score)
        check_group(group)
        pool = candidate_pool(offset + k)
        visual, total = search(pool, 0) if ranking != "text" else ([], 0)
        records = fetch(i for i, _ in visual)  # read once: the words' ranking and the rows both use them
        holds = (lambda _: True) if allowed is None else (lambda i: _holds(allowed, i))
        words = text_ranking(reader, query, visual, holds, records) if ranking != VISUAL else []
        cosine = stored_cosine(reader, self.queries.encode(query))  # the query's vector: from the encoder's cache
        fused = fuse(visual, words, cosine, text_weight, use_visual=ranking != "text")
        records.update(fetch(f.segment_id for f in fused if f.segment_id not in records))
        hits = [
            Hit(records[f.segment_id], f.cosine, matched=f.matched, snippet=f.snippet)
            for f in fused
            if f.segment_id in records and (min_score is None or f.cosine >= min_score)
        ]
        beyond = max(0, total - len(visual))  # visual matches ranked below the candidates
        if group == "segment":
            return sorted_rows(hits, sort)[offset : offset + k], len(hits) + beyond
        floor = min_score if min_score is not None else match_floor([s for _, s in visual] or [h.score for h in hits])
        rows = moments_of(hits, floor)
        if group == "video":
            rows = videos_of(rows)
        return sorted_rows(rows, sort)[offset : offset + k], len(rows) + beyond

    def vector(
        self,
        reader: IndexReader,
        vector: np.ndarray,
        k: int,
        offset: int,
        min_score: float | None,
        kind: str | None = None,
        group: str = "segment",
    ) -> Ranked:
        allowed = allowed_of(reader, kind)

        def search(n: int, skip: int) -> Scored:
            return self.queries.search_vector(reader, vector, n, skip, min_score, allowed=allowed)

        return paged(self.records_of(reader), search, k, offset, group, min_score)

    def like(
        self,
        segment_id: int,
        k: int,
        offset: int = 0,
        min_score: float | None = None,
        kind: str | None = None,
        group: str = "segment",
        videos: VideoFilter | None = None,
    ) -> tuple[SegmentRecord, Rows, int]:
        """More like this: the segments nearest to an indexed segment's own vector (of ``kind`` only, when given),
        the segment itself left out (it would always come first, at 1.0). Returns the query segment too."""
        reader = self.index.require()
        vector = reader.segment_vector(segment_id)
        record = reader.segments([segment_id]).get(segment_id) if vector is not None else None
        if vector is None or record is None:
            raise NotFoundError(f"no segment {segment_id} in the index")
        allowed = allowed_of(reader, kind, videos)
        counted_itself = allowed is None or _holds(allowed, segment_id)  # a photo is not among the videos

        def search(n: int, skip: int) -> Scored:
            scored, total = self.queries.search_vector(reader, vector, skip + n + 1, 0, min_score, allowed=allowed)
            others = [(i, s) for i, s in scored if i != segment_id]
            if counted_itself and (min_score is None or len(others) < len(scored) or float(vector @ vector) >= min_score):
                total -= 1  # the total counted the query segment too
            return others[skip : skip + n], max(0, total)

        rows, total = paged(self.records_of(reader), search, k, offset, group, min_score)
        return record, rows, total

    def image(
        self,
        data: bytes,
        k: int,
        offset: int = 0,
        min_score: float | None = None,
        kind: str | None = None,
        group: str = "segment",
    ) -> Ranked:
        """Query by picture: the image is a one-frame clip through the video encoder (raises NotAnImageError)."""
        reader = self.index.require()
        allowed_of(reader, kind)  # an unknown kind fails before the picture is decoded
        check_group(group)
        preprocess = self.encoder.preprocess
        frame = image_frame(data, decode_short_side(preprocess.resize), decode_resampling(preprocess.interpolation))
        return self.vector(reader, self.encoder.encode_video(frame), k, offset, min_score, kind, group)

    def timeline(self, query: str, video_id: int) -> Timeline:
        """The cosine of the words ``query`` with each segment of video ``video_id`` (its stored vectors), and the
        video's moments among the query's candidates (those a search by ``query`` of its kind ranks: the moments
        its row of ``group=video`` lists). Raises NotFoundError for a video that is not indexed."""
        reader = self.index.require()
        video = reader.video_record(video_id)
        segments = reader.video_segments(video_id) if video is not None and video.indexed else []
        if not segments:
            raise NotFoundError(f"no indexed video {video_id}")
        text = self.queries.encode(query)
        scored = []
        for segment in segments:
            stored = reader.segment_vector(segment.segment_id)
            if stored is not None:  # a catalog row without its vector (external catalog mid-update) is left out
                scored.append(Hit(segment, float(np.asarray(stored, dtype=np.float32) @ text)))
        allowed = allowed_of(reader, video.kind)

        def search(n: int, skip: int) -> Scored:
            return self.queries.search(reader, query, n, skip, None, allowed=allowed)

        rows, _ = candidate_rows(self.records_of(reader), search, 1, "video", None)
        mine = next((row.moments for row in rows if row.best.segment.video_id == video_id), [])
        return Timeline(video_id, video.title, scored, mine)


def ranking_of(reader: IndexReader, ranking: str | None) -> str:
    """The ranking asked for, or (None) hybrid where the index has words (every index the text stage has read:
    names are words), visual otherwise; raises ValueError for another."""
    if ranking is None:
        return "hybrid" if reader.has_texts() else VISUAL
    if ranking not in RANKINGS:
        raise ValueError(f"mode must be one of {', '.join(RANKINGS)}, not {ranking!r}")
    return ranking


def check_sort(sort: str) -> None:
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")


def sorted_rows(rows: Rows, sort: str) -> Rows:
    """``rows`` (best first) as ``sort`` asks: as they are (relevance), the newest video first (date; undated last)
    or the longest first (duration); ties keep their relevance order."""
    if sort == RELEVANCE:
        return rows

    def key(row) -> float:
        segment = (row.best if isinstance(row, VideoHits) else row).segment
        if sort == "date":
            return -segment.created.timestamp() if segment.created is not None else math.inf
        return -(segment.duration or 0.0)

    return sorted(rows, key=key)


def check_group(group: str) -> None:
    if group not in GROUPS:
        raise ValueError(f"group must be one of {', '.join(GROUPS)}, not {group!r}")


def candidate_pool(wanted: int) -> int:
    """How many top segments a page of moments or videos ending at row ``wanted`` (offset + k) is cut from: the
    first :data:`POOL_BLOCK` for every page ending by row ``POOL_BLOCK / POOL_DEPTH``, then whole blocks of at
    least ``POOL_DEPTH * wanted`` (at most :data:`MAX_POOL`)."""
    return min(MAX_POOL, POOL_BLOCK * max(1, math.ceil(POOL_DEPTH * wanted / POOL_BLOCK)))


def paged(
    records: Records,
    search: Callable[[int, int], Scored],
    k: int,
    offset: int,
    group: str,
    min_score: float | None,
) -> Ranked:
    """One page of rows: ``search(n, skip)`` answers ``n`` scored segments from rank ``skip`` and how many match.
    Segments page as the index ranks them; moments and videos page over :func:`candidate_rows`; ``records`` reads
    the catalog."""
    check_group(group)
    if group == "segment":
        scored, total = search(k, offset)
        return hits_of(records, scored), total
    rows, total = candidate_rows(records, search, offset + k, group, min_score)
    return rows[offset : offset + k], total


def candidate_rows(
    records: Records, search: Callable[[int, int], Scored], wanted: int, group: str, min_score: float | None
) -> Ranked:
    """Every moment (or video) among a query's candidates, best first, and how many there are in all: exact when the
    candidates hold every matching segment, else those rows plus the matching segments ranked below them (each at
    most one more). Where fewer than ``wanted`` rows come out of :func:`candidate_pool`'s candidates and more
    segments match, the candidates grow fourfold (up to :data:`MAX_POOL`). Which candidates may merge:
    :func:`match_floor`."""
    pool = candidate_pool(wanted)
    while True:
        scored, total = search(pool, 0)
        floor = min_score if min_score is not None else match_floor([s for _, s in scored])
        rows = moments_of(hits_of(records, scored), floor)
        if group == "video":
            rows = videos_of(rows)
        complete = len(scored) >= total
        if len(rows) >= wanted or complete or pool >= MAX_POOL:
            return rows, len(rows) + (0 if complete else total - len(scored))
        pool = min(MAX_POOL, pool * POOL_DEPTH)


def match_floor(scores: list[float]) -> float:
    """The score a candidate needs to merge into a moment when no ``min_score`` says what matches: halfway from the
    candidates' median to their best. In a small library every segment is a candidate, and without a floor every
    video would be one moment from its start to its end; below the floor a segment stays a row of its own."""
    if not scores:
        return math.inf
    return (max(scores) + float(np.median(scores))) / 2


def moments_of(hits: list[Hit], floor: float = -math.inf) -> list[Hit]:
    """Ranked hits (best first) as moments: the hits of one video scoring at least ``floor`` whose times touch (a
    segment starts at most :data:`TOUCH_SECONDS` after the run before it ends) become one, spanning them, with the
    best one's segment and score; a hit below ``floor`` is a moment of its own. Moments come in the order of their
    best hit."""
    by_video: dict[int, list[tuple[int, Hit]]] = {}
    for rank, hit in enumerate(hits):
        by_video.setdefault(hit.segment.video_id, []).append((rank, hit))
    moments: list[tuple[int, Hit]] = []
    for ranked in by_video.values():
        ranked.sort(key=lambda rh: (rh[1].segment.start, rh[1].segment.end))
        run = [ranked[0]]
        for rank, hit in ranked[1:]:
            matches = hit.score >= floor and run[-1][1].score >= floor  # a run of two or more is all above it
            if matches and hit.segment.start <= max(h.segment.end for _, h in run) + TOUCH_SECONDS:
                run.append((rank, hit))
            else:
                moments.append(_moment(run))
                run = [(rank, hit)]
        moments.append(_moment(run))
    return [moment for _, moment in sorted(moments, key=lambda rm: rm[0])]


def _moment(run: list[tuple[int, Hit]]) -> tuple[int, Hit]:
    """One run of touching hits as (its best hit's rank, the moment)."""
    rank, best = min(run, key=lambda rh: rh[0])
    if len(run) == 1:
        return rank, best
    span = (min(h.segment.start for _, h in run), max(h.segment.end for _, h in run))
    matched = tuple(dict.fromkeys(m for _, h in sorted(run, key=lambda rh: rh[0]) for m in h.matched))
    snippet = best.snippet or next((h.snippet for _, h in sorted(run, key=lambda rh: rh[0]) if h.snippet), None)
    return rank, best._replace(span=span, segments=len(run), matched=matched, snippet=snippet)


def videos_of(moments: list[Hit]) -> list[VideoHits]:
    """Moments (best first) by video: one row per video, in the order of its best moment."""
    by_video: dict[int, list[Hit]] = {}
    for moment in moments:
        by_video.setdefault(moment.segment.video_id, []).append(moment)
    return [VideoHits(found) for found in by_video.values()]


def allowed_of(reader: IndexReader, kind: str | None, videos: VideoFilter | None = None) -> np.ndarray | None:
    """The segment ids a search of ``kind`` and ``videos`` may find (None: every segment); raises ValueError for
    another kind."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if kind is None and (videos is None or videos.empty):
        return None
    return reader.segment_ids(kind, videos)


def _holds(ids: np.ndarray, segment_id: int) -> bool:
    """Whether the sorted ``ids`` hold ``segment_id``."""
    at = int(np.searchsorted(ids, segment_id))
    return at < len(ids) and int(ids[at]) == segment_id


def hits_of(records: Records, scored: list[tuple[int, float]]) -> list[Hit]:
    """Scored segment ids as hits, with their catalog records."""
    found = records(i for i, _ in scored)
    # A vector whose catalog row is gone (external catalog mid-update) is skipped, never shown broken.
    return [Hit(found[i], s) for i, s in scored if i in found]
