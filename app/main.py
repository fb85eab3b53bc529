"""The FastAPI application factory: ``create_app(settings)`` loads the model and index once."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

import templates as templates_package
from app import __version__
from app.deps import KeyForEverything
from app.errors import ErrorRule, http_answered
from app.routes import classify, health, library, media, pages, search, watch
from app.routes import jobs as jobs_routes
from app.schemas import DEFAULT_TEMPLATE
from app.services import VidseekService
from app.services.jobs import Jobs
from app.settings import Settings

TEMPLATES_DIR = Path(templates_package.__file__).resolve().parent
# Swagger UI, ReDoc and a favicon as the fastapi-offline package ships them: the API docs need no CDN either
DOCS_ASSETS = Path(str(files("fastapi_offline") / "static"))
DOCS_ASSETS_URL = "/static-docs"


def create_app(
    settings: Settings | None = None,
    service: VidseekService | None = None,
    examples: Sequence[str] = (),
    classify_template: str = DEFAULT_TEMPLATE,
    jobs: Jobs | None = None,
    background: Sequence = (),
) -> FastAPI:
    """The app for ``settings`` (``service``: one already loaded); ``examples`` are queries the search page offers,
    ``classify_template`` is the prompt the classify page starts with (the demo gives its own of both); ``jobs``:
    the index dir's indexing jobs (default: made here), run while the app is up, as are the ``background`` tasks
    (objects with ``start`` and ``stop``, such as a watched library)."""
    settings = settings or Settings()
    jobs = jobs or Jobs(settings.index_dir, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if getattr(app.state, "service", None) is None:
            app.state.service = VidseekService(settings)
        jobs.start()
        for task in background:
            task.start()
        try:
            yield
        finally:
            for task in reversed(background):
                task.stop()
            jobs.stop()

    app = FastAPI(
        title="vidseek",
        version=__version__,
        description="Text-to-video retrieval: search a video library with words, classify clips zero-shot.",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's own load their scripts from a CDN: _add_api_docs serves them from here
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.service = service
    app.state.templates_dir = TEMPLATES_DIR
    app.state.examples = list(examples)
    app.state.classify_template = classify_template
    app.state.jobs = jobs
    app.mount("/static", StaticFiles(directory=TEMPLATES_DIR / "static"), name="static")
    _add_api_docs(app)
    for module in (pages, library, watch, search, classify, jobs_routes, media, health):
        app.include_router(module.router)
    app.add_middleware(KeyForEverything)  # VIDSEEK_PUBLIC_SEARCH=false: every path but /healthz needs the key

    for rule in http_answered():
        app.add_exception_handler(rule.exception, _answer_with(rule))
    return app


def _answer_with(rule: ErrorRule):
    async def answer(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": f"{rule.detail_prefix}{exc}"}, status_code=rule.http_status)

    return answer


def _add_api_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc with their assets served by the app itself, so they work offline. Plain routes,
    as FastAPI's own docs are: they answer HEAD too and stay out of the OpenAPI document."""
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS), name="static-docs")

    def urls(request: Request) -> tuple[str, str]:
        root = request.scope.get("root_path", "").rstrip("/")  # behind a proxy's path prefix
        return root + app.openapi_url, root + DOCS_ASSETS_URL

    async def swagger_ui(request: Request) -> HTMLResponse:
        openapi_url, assets = urls(request)
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon.png",
        )

    async def redoc(request: Request) -> HTMLResponse:
        openapi_url, assets = urls(request)
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{assets}/redoc.standalone.js",
            redoc_favicon_url=f"{assets}/favicon.png",
            with_google_fonts=False,
        )

    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
