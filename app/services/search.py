"""Searching the current index: by words, by an indexed segment's own vector ("more like this"), by a picture; over
every segment or only those of one kind of file (videos, photos).

Every query goes through the server's one :class:`~app.batching.QueryEncoder`, so concurrent ones share an encoder
call and an index search. A kind is a filter on the search itself (the true top k among that kind's segments)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.batching import QueryEncoder
from app.errors import NotFoundError
from app.services.current_index import CurrentIndex
from indexer import PHOTO_KIND, VIDEO_KIND, IndexReader, SegmentRecord
from indexer.clips import decode_resampling, decode_short_side, image_frame
from models import VideoEncoder

Ranked = tuple[list["Hit"], int]  # one page of hits, and how many segments match in all
KINDS = (VIDEO_KIND, PHOTO_KIND)  # what a search may be restricted to


@dataclass(frozen=True)
class Hit:
    segment: SegmentRecord
    score: float


class SegmentSearch:
    """Queries against the current index: ``queries`` embeds words; ``encoder`` embeds pictures."""

    def __init__(self, index: CurrentIndex, encoder: VideoEncoder, queries: QueryEncoder):
        self.index = index
        self.encoder = encoder
        self.queries = queries

    def text(self, query: str, k: int, offset: int = 0, min_score: float | None = None, kind: str | None = None) -> Ranked:
        """The segments nearest to the words ``query`` (of files of ``kind`` only, when given)."""
        reader = self.index.require()
        scored, total = self.queries.search(reader, query, k, offset, min_score, allowed=allowed_of(reader, kind))
        return hits_of(reader, scored), total

    def vector(
        self,
        reader: IndexReader,
        vector: np.ndarray,
        k: int,
        offset: int,
        min_score: float | None,
        kind: str | None = None,
    ) -> Ranked:
        scored, total = self.queries.search_vector(reader, vector, k, offset, min_score, allowed=allowed_of(reader, kind))
        return hits_of(reader, scored), total

    def like(
        self, segment_id: int, k: int, offset: int = 0, min_score: float | None = None, kind: str | None = None
    ) -> tuple[SegmentRecord, list[Hit], int]:
        """More like this: the segments nearest to an indexed segment's own vector (of ``kind`` only, when given),
        the segment itself left out (it would always come first, at 1.0). Returns the query segment too."""
        reader = self.index.require()
        vector = reader.segment_vector(segment_id)
        record = reader.segments([segment_id]).get(segment_id) if vector is not None else None
        if vector is None or record is None:
            raise NotFoundError(f"no segment {segment_id} in the index")
        allowed = allowed_of(reader, kind)
        scored, total = self.queries.search_vector(reader, vector, offset + k + 1, 0, min_score, allowed=allowed)
        others = [(i, s) for i, s in scored if i != segment_id]
        counted_itself = allowed is None or _holds(allowed, segment_id)  # a photo is not among the videos
        if counted_itself and (min_score is None or len(others) < len(scored) or float(vector @ vector) >= min_score):
            total -= 1  # the total counted the query segment too
        return record, hits_of(reader, others[offset : offset + k]), max(0, total)

    def image(self, data: bytes, k: int, offset: int = 0, min_score: float | None = None, kind: str | None = None) -> Ranked:
        """Query by picture: the image is a one-frame clip through the video encoder (raises NotAnImageError)."""
        reader = self.index.require()
        allowed_of(reader, kind)  # an unknown kind fails before the picture is decoded
        preprocess = self.encoder.preprocess
        frame = image_frame(data, decode_short_side(preprocess.resize), decode_resampling(preprocess.interpolation))
        return self.vector(reader, self.encoder.encode_video(frame), k, offset, min_score, kind)


def allowed_of(reader: IndexReader, kind: str | None) -> np.ndarray | None:
    """The segment ids a search of ``kind`` may find (None: every segment); raises ValueError for another kind."""
    if kind is None:
        return None
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return reader.segment_ids(kind)


def _holds(ids: np.ndarray, segment_id: int) -> bool:
    """Whether the sorted ``ids`` hold ``segment_id``."""
    at = int(np.searchsorted(ids, segment_id))
    return at < len(ids) and int(ids[at]) == segment_id


def hits_of(reader: IndexReader, scored: list[tuple[int, float]]) -> list[Hit]:
    """Scored segment ids as hits, with their catalog records."""
    records = reader.segments(i for i, _ in scored)
    # A vector whose catalog row is gone (external catalog mid-update) is skipped, never shown broken.
    return [Hit(records[i], s) for i, s in scored if i in records]
