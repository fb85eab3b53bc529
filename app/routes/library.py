"""GET /library: what the index holds (videos, segment counts), which files failed and why, and its manifest."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.deps import ServiceDep
from app.routes.rendering import PAGE_METHODS, render

router = APIRouter(include_in_schema=False)


@router.api_route("/library", methods=PAGE_METHODS, response_class=HTMLResponse)
def library_page(request: Request, service: ServiceDep):
    library = service.library() if service.has_index() else None
    return render(request, "library.html", service, {"page": "library", "library": library})
