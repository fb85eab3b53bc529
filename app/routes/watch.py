"""GET /watch/{video_id}: the player view, a whole video from a moment (?t=) with its segments listed and a scrub
bar over its sprite sheet; opened from a search (?q=), a strip of the words' score along the video; for a photo,
the photo view."""

from __future__ import annotations

import math

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.deps import ServiceDep
from app.errors import NotFoundError
from app.present import byte_size, media_urls
from app.routes.media import MAX_ID
from app.routes.rendering import PAGE_METHODS, render
from app.routes.search import MAX_QUERY_CHARS

router = APIRouter(include_in_schema=False)


@router.api_route("/watch/{video_id}", methods=PAGE_METHODS, response_class=HTMLResponse)
def watch_page(request: Request, video_id: int, service: ServiceDep, t: str = "", segment: str = "", q: str = ""):
    if not service.has_index():
        return render(request, "watch.html", service, {"page": "watch", "video": None, "problem": None}, status_code=503)
    try:
        if not 0 <= video_id <= MAX_ID:  # ids are 64-bit: anything else is no video, not a server error
            raise NotFoundError(f"no indexed video {video_id}")
        video, segments = service.indexed_video(video_id)
    except NotFoundError:
        problem = (
            f"There is no indexed video {video_id}: it may have been removed from the library or failed to decode, "
            "or the index was rebuilt since the link was made."
        )
        return render(request, "watch.html", service, {"page": "watch", "video": None, "problem": problem}, status_code=404)
    try:
        start = float(t) if t else 0.0
    except ValueError:
        start = 0.0
    duration = video.duration or (segments[-1].end if segments else 0.0)
    start = min(max(start, 0.0), duration) if math.isfinite(start) else 0.0
    current = next((s for s in segments if str(s.segment_id) == segment), None)
    current = current or next((s for s in segments if s.start <= start < s.end), segments[0] if segments else None)
    context = {
        "page": "watch",
        "video": video,
        "title": video.title,
        "segments": segments,
        "current": current,
        "start": start,
        "duration": duration,
        "urls": media_urls(video.video_id, video.kind, video.preview_bytes is not None, video.sprite_bytes is not None),
        "byte_size": byte_size,
        "query": q.strip()[:MAX_QUERY_CHARS],  # the page's script asks GET /search/timeline, which judges it
        "problem": None,
    }
    return render(request, "watch.html", service, context)
