"""How results read to people and clients, in one place: the JSON shape of a hit (used by the routes and the CLI's
--json) and the clock and date formats (used by the pages, their script's twin in templates/static, and the CLI)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from app.schemas import SearchResult
from indexer import SegmentRecord

if TYPE_CHECKING:
    from app.services import Hit


def clock(seconds: float | None) -> str:
    """75 -> "01:15", 3725 -> "1:02:05" (the same format as the page's script)."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    t = max(0, math.floor(seconds))
    h, m, s = t // 3600, t % 3600 // 60, t % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def built_at(iso: str | None) -> str:
    """A manifest's ISO timestamp as "2026-11-23 11:08 UTC" (the raw value stays in the <time> element)."""
    try:
        when = datetime.fromisoformat(iso or "")
    except ValueError:
        return iso or "–"
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%d %H:%M") + (" UTC" if when.tzinfo is not None else "")


def result_of(hit: Hit) -> SearchResult:
    """One hit as the API returns it (the CLI's --json uses this too)."""
    return segment_result(hit.segment, hit.score)


def segment_result(segment: SegmentRecord, score: float) -> SearchResult:
    return SearchResult(
        segment_id=segment.segment_id,
        video_id=segment.video_id,
        title=segment.title,
        start=segment.start,
        end=segment.end,
        score=score,
        video_url=f"/videos/{segment.video_id}",
        thumbnail_url=f"/thumbnails/{segment.segment_id}.jpg",
    )
