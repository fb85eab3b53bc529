"""Typed dependencies for the routes (overridable in tests), and who may call what: the API key."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from app.services import VidseekService
from app.settings import Settings

ALWAYS_OPEN = frozenset({"/healthz"})  # liveness, for orchestrators
KEY_NEEDED = "this endpoint needs the API key: send 'X-API-Key: KEY'"


def get_service(request: Request) -> VidseekService:
    return request.app.state.service


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


ServiceDep = Annotated[VidseekService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def has_api_key(headers: Headers, expected: str) -> bool:
    """Whether the request carries ``expected`` as 'X-API-Key: KEY' or 'Authorization: Bearer KEY'."""
    supplied = headers.get("x-api-key", "")
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if not supplied and scheme.lower() == "bearer":
        supplied = token.strip()
    # Header values arrive decoded as Latin-1: encoding them back gives the bytes the client sent, which for a
    # non-ASCII key are its UTF-8 bytes (what curl and browsers send).
    return bool(supplied) and hmac.compare_digest(supplied.encode("latin-1"), expected.encode())


def require_api_key(request: Request) -> None:
    """Expensive and write endpoints: the API key, when one is configured."""
    expected = request.app.state.settings.api_key
    if expected and not has_api_key(request.headers, expected):
        raise HTTPException(401, KEY_NEEDED, headers={"WWW-Authenticate": "Bearer"})


ApiKey = Depends(require_api_key)


class KeyForEverything:
    """With VIDSEEK_PUBLIC_SEARCH=false (and a key set), every path but /healthz needs the API key: pages, media,
    the API documents and the static assets too, so nothing about the library is readable without it.

    A middleware rather than a route dependency, because mounted static files and the docs pages have no
    dependencies; it reads the app's settings as the routes do.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._may_pass(scope):
            refusal = JSONResponse({"detail": KEY_NEEDED}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _may_pass(scope: Scope) -> bool:
        settings: Settings = scope["app"].state.settings
        if settings.public_search or not settings.api_key:
            return True
        # the path as routed: without the prefix a proxy may mount the app under (uvicorn --root-path)
        path = scope["path"].removeprefix(scope.get("root_path", ""))
        return path in ALWAYS_OPEN or has_api_key(Headers(scope=scope), settings.api_key)
