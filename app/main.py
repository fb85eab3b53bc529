"""The FastAPI application factory: ``create_app(settings)`` loads the model and index once."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

import templates as templates_package
from app import __version__
from app.deps import SearchAccess
from app.routes import classify, health, library, media, pages, search, watch
from app.services import NoIndexError, NotFoundError, VidseekService
from app.settings import Settings
from indexer.decode import DecodeError

TEMPLATES_DIR = Path(templates_package.__file__).resolve().parent


def create_app(settings: Settings | None = None, service: VidseekService | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if getattr(app.state, "service", None) is None:
            app.state.service = VidseekService(settings)
        yield

    app = FastAPI(
        title="vidseek",
        version=__version__,
        description="Text-to-video retrieval: search a video library with words, classify clips zero-shot.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.service = service
    app.state.templates_dir = TEMPLATES_DIR
    app.mount("/static", StaticFiles(directory=TEMPLATES_DIR / "static"), name="static")
    for module in (pages, library, watch, search, classify, media):
        app.include_router(module.router, dependencies=[SearchAccess])
    app.include_router(health.router)

    @app.exception_handler(NoIndexError)
    async def _no_index(_: Request, exc: NoIndexError):
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(NotFoundError)
    async def _not_found(_: Request, exc: NotFoundError):
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(DecodeError)
    async def _not_a_video(_: Request, exc: DecodeError):
        return JSONResponse({"detail": f"could not decode the video: {exc}"}, status_code=422)

    return app
