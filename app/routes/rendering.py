"""Rendering the HTML pages: one Jinja2 environment per app, the filters the templates share, the index summary."""

from __future__ import annotations

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from app.present import built_at, clock
from app.services import VidseekService

# Pages answer HEAD like GET, without the body (a FastAPI route refuses HEAD with 405 unless it says so).
PAGE_METHODS = ["GET", "HEAD"]


def _templates(request: Request) -> Jinja2Templates:
    templates = getattr(request.app.state, "jinja", None)
    if templates is None:
        templates = Jinja2Templates(directory=request.app.state.templates_dir)
        templates.env.filters["clock"] = clock
        templates.env.filters["built_at"] = built_at
        request.app.state.jinja = templates
    return templates


def index_info(service: VidseekService) -> dict | None:
    """What the footer says about the loaded index; None when there is none."""
    summary = service.index_summary()
    if summary is None:
        return None
    return {
        "model": summary.model,
        "pretrained": summary.pretrained,
        "count": summary.segments,
        "videos": summary.videos,
        "created": summary.created,
    }


def render(request: Request, name: str, service: VidseekService, context: dict, status_code: int = 200) -> Response:
    base = {
        "static_url": "/static",
        "index_info": index_info(service),
        "index_dir": str(service.index_dir),
        "random_weights": service.encoder.spec.pretrained == "none",  # --pretrained none (models.factory.NO_WEIGHTS)
    }
    return _templates(request).TemplateResponse(request, name, base | context, status_code=status_code)
