"""How results read to people and clients, in one place: the JSON shape of a hit (used by the routes and the CLI's
--json), the URLs a file is served at, how a file plays, byte sizes, and the clock and date formats (used by the
pages, their script's twin in templates/static, and the CLI)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from app.schemas import (
    ClassifyResponse,
    FileError,
    JobResponse,
    LabelRun,
    LabelScore,
    MomentSpan,
    SearchResult,
    Snippet,
    TimelineResponse,
    TimelineSegment,
)
from app.services.library import library_relative
from indexer import PHOTO_KIND, JobRecord, SegmentRecord, VideoRecord

if TYPE_CHECKING:
    from app.services import Hit, Ranking, Timeline, TimelineRun, VideoHits

MAX_MOMENTS_PER_VIDEO = 10  # a video's row (group=video) lists at most this many of its moments


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


@dataclass(frozen=True)
class MediaUrls:
    """Where a catalogued file is served: ``video_url`` what a browser plays (the preview when there is one; None
    for a photo), ``original_url`` the file as it is, ``image_url`` a photo as a browser shows it (None for a
    video), ``sprites_url`` the WebVTT thumbnails track for scrubbing (None: none)."""

    video_url: str | None
    original_url: str
    image_url: str | None
    sprites_url: str | None


def media_urls(video_id: int, kind: str, preview: bool, sprites: bool) -> MediaUrls:
    """The URLs of a file (the media routes' paths, in one place: the hit's JSON and the player page use them)."""
    original = f"/videos/{video_id}"
    if kind == PHOTO_KIND:
        return MediaUrls(None, original, f"/photos/{video_id}", None)
    return MediaUrls(
        f"/previews/{video_id}.mp4" if preview else original,
        original,
        None,
        f"/sprites/{video_id}.vtt" if sprites else None,
    )


def result_of(hit: Hit | VideoHits) -> SearchResult:
    """One row as the API returns it (the CLI's --json uses this too): a segment, a moment (its span, its best
    segment), or a video with its moments (its best moment's fields)."""
    if hasattr(hit, "moments"):
        best = hit.best
        moments = [moment_span(m) for m in hit.moments[:MAX_MOMENTS_PER_VIDEO]]
        row = segment_result(best.segment, best.score, best.start, best.end, best.segments)
        return _with_words(row, best).model_copy(update={"moments": moments})
    return _with_words(segment_result(hit.segment, hit.score, hit.start, hit.end, hit.segments), hit)


def _with_words(result: SearchResult, hit: Hit) -> SearchResult:
    """A row with why it matched, and its snippet where words matched."""
    snippet = None if hit.snippet is None else Snippet(text=hit.snippet.text, marks=list(hit.snippet.marks))
    return result.model_copy(update={"matched": list(hit.matched), "snippet": snippet})


def moment_span(hit: Hit) -> MomentSpan:
    return MomentSpan(start=hit.start, end=hit.end, score=hit.score, segment_id=hit.segment.segment_id, segments=hit.segments)


def timeline_response(timeline: Timeline, query: str, took_ms: float) -> TimelineResponse:
    """GET /search/timeline's body."""
    return TimelineResponse(
        video_id=timeline.video_id,
        title=timeline.title,
        query=query,
        took_ms=took_ms,
        segments=[
            TimelineSegment(segment_id=h.segment.segment_id, start=h.segment.start, end=h.segment.end, score=h.score)
            for h in timeline.segments
        ],
        moments=[moment_span(m) for m in timeline.moments],
    )


def segment_result(
    segment: SegmentRecord, score: float, start: float | None = None, end: float | None = None, segments: int = 1
) -> SearchResult:
    """A segment's row; ``start``, ``end`` and ``segments`` give a moment's span where it merged several."""
    urls = media_urls(segment.video_id, segment.kind, segment.preview, segment.sprites)
    return SearchResult(
        segment_id=segment.segment_id,
        video_id=segment.video_id,
        title=segment.title,
        start=segment.start if start is None else start,
        end=segment.end if end is None else end,
        score=score,
        segments=segments,
        kind=PHOTO_KIND if segment.kind == PHOTO_KIND else "video",
        video_url=urls.video_url,
        original_url=urls.original_url,
        image_url=urls.image_url,
        thumbnail_url=f"/thumbnails/{segment.segment_id}.jpg",
        sprites_url=urls.sprites_url,
    )


def job_response(job: JobRecord, library: str = "") -> JobResponse:
    """A job as the API shows it: its files' paths below ``library`` (the library's own path is not shown)."""
    values = {name: getattr(job, name) for name in JobResponse.model_fields if name != "file_errors"}
    errors = [FileError(path=library_relative(path, library), reason=reason) for path, reason in job.file_errors]
    return JobResponse(**values, file_errors=errors)


def plays_as(video: VideoRecord) -> str:
    """How the library page says a file reaches the browser: its preview, the file as it is, or why neither."""
    if video.kind == PHOTO_KIND:
        return "picture"
    if video.preview_bytes is not None:
        return "preview"
    if video.preview_error:
        return f"original (no preview: {video.preview_error})"
    if video.playable is None:
        return "not probed"
    return "original" if video.playable else "original (a browser may not play it)"


def byte_size(n: int | float) -> str:
    """1234 -> "1.23 kB", 12_300_000 -> "12.3 MB" (decimal units, three significant digits)."""
    value = float(max(n, 0))
    for unit in ("B", "kB", "MB", "GB"):
        if value < 999.5:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.3g} {unit}"
        value /= 1000
    return f"{value:,.3g} TB" if value < 999.5 else f"{value:,.0f} TB"


def share(part: int, whole: int) -> str:
    """``part`` as a percentage of ``whole``: "2.1 %", "35 %", "< 0.1 %"."""
    if whole <= 0:
        return "–"
    pct = 100 * part / whole
    if 0 < pct < 0.1:
        return "< 0.1 %"
    return f"{pct:.0f} %" if pct >= 10 else f"{pct:.1f} %"


def preview_disk_use(preview_bytes: int, original_bytes: int) -> str:
    """What the previews and sprite sheets take on disk beside the originals: "12.3 MB · 2.1 % of the originals'
    580 MB" (the library page's index facts)."""
    if preview_bytes <= 0:
        return f"none · the originals take {byte_size(original_bytes)}"
    return f"{byte_size(preview_bytes)} · {share(preview_bytes, original_bytes)} of the originals' {byte_size(original_bytes)}"


def classify_response(ranked: Ranking, runs: list[TimelineRun] | None = None) -> ClassifyResponse:
    """POST /classify's body (and ``vidseek classify --json``'s): the ranking, and the timeline's runs when asked."""
    labels = [LabelScore(label=l, score=s, probability=p) for l, s, p in ranked]
    timeline = None if runs is None else [LabelRun(**vars(run)) for run in runs]
    return ClassifyResponse(labels=labels, timeline=timeline)
