"""GET /library: what the index holds (videos and photos, segment counts, how each plays), which files failed and
why, which previews could not be made, what the previews take on disk, and its manifest."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.deps import ServiceDep
from app.present import plays_as, preview_disk_use
from app.routes.rendering import PAGE_METHODS, render

router = APIRouter(include_in_schema=False)


@router.api_route("/library", methods=PAGE_METHODS, response_class=HTMLResponse)
def library_page(request: Request, service: ServiceDep):
    library = service.library() if service.has_index() else None
    context = {"page": "library", "library": library, "plays_as": plays_as}
    if library is not None:
        context["previews_disk_use"] = preview_disk_use(library.preview_bytes, library.original_bytes)
    return render(request, "library.html", service, context)
