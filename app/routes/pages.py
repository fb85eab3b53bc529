"""The browser search page."""

from __future__ import annotations

import math

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from app.deps import ServiceDep

router = APIRouter(include_in_schema=False)
MAX_DISPLAY_CHOICES = [4, 8, 16, 32]
DEFAULT_MAX_DISPLAY = 8


def _templates(request: Request) -> Jinja2Templates:
    templates = getattr(request.app.state, "jinja", None)
    if templates is None:
        templates = request.app.state.jinja = Jinja2Templates(directory=request.app.state.templates_dir)
    return templates


@router.get("/", response_class=HTMLResponse)
def search_page(request: Request, service: ServiceDep, q: str = "", k: str = "", min_score: str = ""):
    # The page never fails on odd query-string values: it falls back to defaults and lets /search judge.
    max_display = int(k) if k.isdigit() and int(k) in MAX_DISPLAY_CHOICES else DEFAULT_MAX_DISPLAY
    try:
        score = float(min_score) if min_score else None
        score = score if score is not None and math.isfinite(score) and -1 <= score <= 1 else None
    except ValueError:
        score = None
    reader = service.reader
    index_info = None
    if reader is not None:
        m = reader.manifest
        index_info = {"model": m.model, "pretrained": m.pretrained, "count": m.count, "videos": m.videos, "created": m.created}
    context = {
        "query": q[:1000],
        "k": max_display,
        "ks": MAX_DISPLAY_CHOICES,
        "min_score": score,
        "index_info": index_info,
        "static_url": "/static",
        "examples": getattr(request.app.state, "examples", []),
    }
    return _templates(request).TemplateResponse(request, "index.html", context)
