"""The browser pages for searching (GET /) and classifying (GET /classify; the API is POST /classify)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.deps import ServiceDep
from app.routes.rendering import PAGE_METHODS, render
from app.services import Facets, VidseekService
from app.services.search import KINDS
from indexer import PHOTO_KIND

router = APIRouter(include_in_schema=False)
MAX_DISPLAY_CHOICES = [4, 8, 16, 32]
DEFAULT_MAX_DISPLAY = 8


def _segment_id(raw: str) -> int | None:
    """A segment or video id from the query string, or None (ids are 64-bit: at most 18 digits taken)."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None


def _has_photos(service: VidseekService) -> bool:
    """Whether the current index holds photos: only then does the page offer "Show: All, Videos, Photos"."""
    reader = service.reader
    return reader is not None and len(reader.segment_ids(PHOTO_KIND)) > 0


FILTERS = ("folder", "after", "before", "min_duration", "max_duration", "min_height", "has_subtitles", "codec", "sort")


def _filters(request: Request) -> dict[str, str]:
    """The URL's facet filters and sort as typed (GET /search judges them; the page only shows them again)."""
    return {name: request.query_params[name][:4096] for name in FILTERS if request.query_params.get(name, "").strip()}


def _has_words(service: VidseekService) -> bool:
    """Whether the index holds words (subtitles, names): then the page offers how to match them."""
    return service.reader is not None and service.has_words()


def _facets(service: VidseekService) -> Facets | None:
    return service.facets() if service.reader is not None else None


def folder_choices(folders: Iterable[str], limit: int = 1000) -> list[str]:
    """The folders to suggest for the folder filter: each folder files are in and every folder above it, sorted."""
    choices = set()
    for folder in folders:
        parts = folder.split("/") if folder else []
        choices.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return sorted(choices)[:limit]


@router.api_route("/", methods=PAGE_METHODS, response_class=HTMLResponse)
def search_page(
    request: Request,
    service: ServiceDep,
    q: str = "",
    k: str = "",
    min_score: str = "",
    like: str = "",
    kind: str = "",
    group: str = "",
    mode: str = "",
):
    # The page never fails on odd query-string values: it falls back to defaults and lets /search judge.
    max_display = int(k) if k.isdigit() and int(k) in MAX_DISPLAY_CHOICES else DEFAULT_MAX_DISPLAY
    try:
        score = float(min_score) if min_score else None
        score = score if score is not None and math.isfinite(score) and -1 <= score <= 1 else None
    except ValueError:
        score = None
    facets = _facets(service)
    context = {
        "page": "search",
        "query": q[:1000],
        "like": _segment_id(like),
        "k": max_display,
        "ks": MAX_DISPLAY_CHOICES,
        "min_score": score,
        "kind": kind if kind in KINDS else None,
        "group": "video" if group == "video" else None,  # the page shows moments, or one card per video
        "mode": mode if mode in ("visual", "text") else None,  # how words rank; None: pixels and words fused
        "filters": _filters(request),
        "has_photos": _has_photos(service),
        "has_words": _has_words(service),
        "folders": folder_choices(facets.folders) if facets else [],
        "codecs": facets.codecs if facets else {},
        "examples": request.app.state.examples,
    }
    return render(request, "index.html", service, context)


@router.api_route("/classify", methods=PAGE_METHODS, response_class=HTMLResponse)
def classify_page(request: Request, service: ServiceDep, segment: str = "", video: str = "", labels: str = ""):
    """Pick an indexed video (or the segment linked from a player) or upload one, enter labels, see the ranking."""
    videos, chosen_segment = [], None
    if service.has_index():
        videos = service.library().indexed
        segment_id = _segment_id(segment)
        if segment_id is not None:
            chosen_segment = service.segment(segment_id)
    context = {
        "page": "classify",
        "videos": videos,
        "segment": chosen_segment,
        "video_id": _segment_id(video),
        "labels": labels[:2000],
        "template": request.app.state.classify_template,
    }
    return render(request, "classify.html", service, context)
