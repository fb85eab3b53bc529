"""GET /search: text -> ranked clips."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from app.deps import ServiceDep
from app.schemas import SearchResponse, SearchResult
from app.services import Hit

router = APIRouter(tags=["search"])
MAX_QUERY_CHARS = 1000
MAX_OFFSET = 10_000


def result_of(hit: Hit) -> SearchResult:
    s = hit.segment
    return SearchResult(
        segment_id=s.segment_id,
        video_id=s.video_id,
        title=s.title,
        start=s.start,
        end=s.end,
        score=hit.score,
        video_url=f"/videos/{s.video_id}",
        thumbnail_url=f"/thumbnails/{s.segment_id}.jpg",
    )


@router.get("/search", response_model=SearchResponse)
def search(
    service: ServiceDep,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="what to look for, in words")],
    k: Annotated[int, Query(ge=1, le=100, description="how many results")] = 8,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="results to skip (paging)")] = 0,
    min_score: Annotated[
        float | None, Query(ge=-1.0, le=1.0, allow_inf_nan=False, description="hide results scoring below this cosine")
    ] = None,
) -> SearchResponse:
    query = q.strip()
    if not query:
        raise HTTPException(422, "q must contain some text")
    if any(ord(c) < 32 and c not in "\t\n\r" for c in query):
        raise HTTPException(422, "q must not contain control characters")
    started = time.perf_counter()
    hits, total = service.search_text(query, k, offset, min_score)
    took_ms = (time.perf_counter() - started) * 1000
    return SearchResponse(query=query, took_ms=round(took_ms, 2), total=total, results=[result_of(h) for h in hits])
