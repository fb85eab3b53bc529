"""GET /search (words, or "more like" an indexed segment) and POST /search/image (a picture) -> ranked moments,
videos or segments; GET /search/timeline -> the words' score along one video; GET /facets -> the values filters take."""

from __future__ import annotations

import dataclasses
import time
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from app.deps import ApiKey, ServiceDep, SettingsDep
from app.present import result_of, segment_result, timeline_response
from app.routes.media import MAX_ID
from app.routes.uploads import form_file, too_large, upload_request
from app.schemas import FacetsResponse, Group, SearchResponse, SearchResult, TimelineResponse
from app.services import VideoFilter
from app.services.search import Rows

router = APIRouter(tags=["search"])
MAX_QUERY_CHARS = 1000
MAX_OFFSET = 10_000
IMAGE_CONTENT_TYPES = ("image/", "application/octet-stream")

K = Annotated[int, Query(ge=1, le=100, description="how many results")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="results to skip (paging)")]
MinScore = Annotated[
    float | None, Query(ge=-1.0, le=1.0, allow_inf_nan=False, description="hide results scoring below this cosine")
]
Kind = Annotated[
    Literal["video", "photo"] | None,
    Query(description="only segments of videos, or only photos (the top k among those; total counts only them)"),
]
GroupBy = Annotated[
    Group,
    Query(
        description="one row per moment (adjacent matching segments of a video merged, the default), per video (with "
        "its moments) or per segment; offset and k count rows"
    ),
]
Mode = Annotated[
    Literal["hybrid", "visual", "text"] | None,
    Query(
        description="how words are ranked: by pixels (visual), by the words files carry (text: subtitles, names, "
        "titles) or both, fused by reciprocal rank (hybrid; the default where the index holds words)"
    ),
]
TextWeight = Annotated[
    float, Query(ge=0.0, le=10.0, allow_inf_nan=False, description="hybrid: the words' weight beside the pixels' (1)")
]
Sort = Annotated[
    Literal["relevance", "date", "duration"],
    Query(description="rows as ranked (relevance), the newest video first (date) or the longest first (duration)"),
]


def video_filter(
    folder: Annotated[
        str | None, Query(max_length=4096, description="only that folder below the library, and the folders in it")
    ] = None,
    after: Annotated[
        datetime | None, Query(description="only videos made at or after (ISO 8601 date or time; UTC unless it says)")
    ] = None,
    before: Annotated[datetime | None, Query(description="only videos made before")] = None,
    min_duration: Annotated[float | None, Query(ge=0, allow_inf_nan=False, description="seconds")] = None,
    max_duration: Annotated[float | None, Query(ge=0, allow_inf_nan=False, description="seconds")] = None,
    min_height: Annotated[int | None, Query(ge=0, le=100_000, description="pixels")] = None,
    has_subtitles: Annotated[bool | None, Query(description="only videos with (true) or without (false) subtitles")] = None,
    codec: Annotated[
        str | None, Query(max_length=600, description="only videos in these codecs, comma-separated (h264,hevc; GET /facets)")
    ] = None,
) -> VideoFilter:
    """The facets a search is limited to: the filter is the vector search's own (its k rows are the true top k
    among the videos it lets through)."""
    if has_control_characters(folder or ""):
        raise HTTPException(422, "folder must not contain control characters")
    try:
        codecs = VideoFilter.codec_names(codec) if codec is not None else None
    except ValueError as exc:
        raise HTTPException(422, f"codec: {exc}") from exc
    return VideoFilter(
        folder=folder.strip("/ ") if folder else None,
        after=_utc(after),
        before=_utc(before),
        min_duration=min_duration,
        max_duration=max_duration,
        min_height=min_height,
        has_subtitles=has_subtitles,
        codecs=codecs,
    )


def _utc(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


Filters = Annotated[VideoFilter, Depends(video_filter)]
Words = Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="what to look for, in words")]


def _results(rows: Rows) -> list[SearchResult]:
    return [result_of(row) for row in rows]


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


@router.get("/search", response_model=SearchResponse, responses={404: {}, 422: {}, 503: {}})
def search(
    service: ServiceDep,
    q: Annotated[str | None, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="what to look for, in words")] = None,
    like: Annotated[
        int | None,
        Query(
            ge=0, le=MAX_ID, description="'more like this': a segment id whose own vector is the query (the segment is left out)"
        ),
    ] = None,
    k: K = 8,
    offset: Offset = 0,
    min_score: MinScore = None,
    kind: Kind = None,
    group: GroupBy = "moment",
    mode: Mode = None,
    text_weight: TextWeight = 1.0,
    videos: Filters = VideoFilter(),
    sort: Sort = "relevance",
) -> SearchResponse:
    """Rank the index's segments by cosine to the words ``q`` (and by the words files carry: ``mode``), or to the
    segment ``like`` (exactly one of them); only those of videos or of photos with ``kind``; as moments, videos or
    segments by ``group``."""
    if (q is None) == (like is None):
        raise HTTPException(422, "give exactly one of q (words to search for) or like (a segment id)")
    started = time.perf_counter()
    if like is not None:
        record, rows, total = service.search_like(like, k, offset, min_score, kind=kind, group=group, videos=videos)
        return SearchResponse(
            query="",
            mode="like",
            group=group,
            like=segment_result(record, 1.0),
            took_ms=_ms_since(started),
            total=total,
            results=_results(rows),
        )
    query = checked_words(q)
    ranking = service.ranking(mode)
    rows, total = service.search_text(
        query, k, offset, min_score, kind=kind, group=group, ranking=ranking, text_weight=text_weight, videos=videos, sort=sort
    )
    took = _ms_since(started)
    return SearchResponse(query=query, group=group, ranking=ranking, took_ms=took, total=total, results=_results(rows))


@router.get("/facets", response_model=FacetsResponse, responses={503: {}})
def facets(service: ServiceDep) -> FacetsResponse:
    """What the indexed files are: kinds, codecs, folders, heights, dates and durations, with counts (for filters)."""
    return FacetsResponse(**dataclasses.asdict(service.facets()))


@router.get("/search/timeline", response_model=TimelineResponse, responses={404: {}, 422: {}, 503: {}})
def search_timeline(
    service: ServiceDep,
    q: Words,
    video_id: Annotated[int, Query(ge=0, le=MAX_ID, description="the indexed video to score along")],
) -> TimelineResponse:
    """Where in this video: the cosine of the words ``q`` with each of the video's segments (its stored vectors),
    in time order, and its moments among the query's candidates (those ``GET /search?group=video`` lists)."""
    query = checked_words(q)
    started = time.perf_counter()
    timeline = service.timeline(query, video_id)  # NotFoundError: 404
    return timeline_response(timeline, query, _ms_since(started))


def checked_words(q: str) -> str:
    """The words of a query, stripped; 422 for none, or for control characters."""
    query = q.strip()
    if not query:
        raise HTTPException(422, "q must contain some text")
    if has_control_characters(query):
        raise HTTPException(422, "q must not contain control characters")
    return query


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a control character (Unicode category Cc: C0, DEL and C1) other than tab and line
    breaks, which are whitespace in a query."""
    return any(unicodedata.category(c) == "Cc" and c not in "\t\n\r" for c in text)


_IMAGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary", "description": "the picture to search by"}},
                }
            }
        },
    }
}


@router.post(
    "/search/image",
    dependencies=[ApiKey],
    response_model=SearchResponse,
    openapi_extra=_IMAGE_BODY,
    responses={413: {}, 415: {}, 422: {}, 503: {}},
)
async def search_image(
    request: Request,
    service: ServiceDep,
    settings: SettingsDep,
    k: K = 8,
    offset: Offset = 0,
    min_score: MinScore = None,
    kind: Kind = None,
    group: GroupBy = "moment",
) -> SearchResponse:
    """Query by picture: multipart ``file`` (PNG, JPEG, WebP, GIF, BMP), embedded as a one-frame clip by the
    video encoder; ``k``, ``offset``, ``min_score``, ``kind`` and ``group`` are query parameters as for GET /search."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data":
        raise HTTPException(415, "send multipart/form-data with the picture in the field 'file'")
    async with upload_request(request, settings).form(max_files=1, max_fields=10) as form:
        upload = form_file(form, "an image", IMAGE_CONTENT_TYPES)
        data = await run_in_threadpool(_read_limited, upload.file, settings.max_upload_bytes)
    if data is None:
        raise too_large(settings)
    if not data:
        raise HTTPException(422, "the uploaded file is empty")
    started = time.perf_counter()
    # NotAnImageError: 422
    rows, total = await run_in_threadpool(service.search_image, data, k, offset, min_score, kind=kind, group=group)
    return SearchResponse(query="", mode="image", group=group, took_ms=_ms_since(started), total=total, results=_results(rows))


def _read_limited(source, limit: int) -> bytes | None:
    """The upload's bytes, or None when it is larger than ``limit`` (pictures are small: read into memory)."""
    source.seek(0)
    data = source.read(limit + 1)
    return None if len(data) > limit else data
