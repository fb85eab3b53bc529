"""Typed dependencies for the routes (overridable in tests)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from app.services import VidseekService
from app.settings import Settings


def get_service(request: Request) -> VidseekService:
    return request.app.state.service


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


ServiceDep = Annotated[VidseekService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def require_api_key(request: Request) -> None:
    """Expensive and write endpoints: the API key, when one is configured."""
    expected = request.app.state.settings.api_key
    if not expected:
        return
    supplied = request.headers.get("x-api-key", "")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if not supplied and scheme.lower() == "bearer":
        supplied = token.strip()
    if not supplied or not hmac.compare_digest(supplied.encode(), expected.encode()):
        raise HTTPException(401, "this endpoint needs the API key: send 'X-API-Key: KEY'", headers={"WWW-Authenticate": "Bearer"})


def require_search_access(request: Request) -> None:
    """Searching and watching: open unless VIDSEEK_PUBLIC_SEARCH=false, then like require_api_key."""
    if not request.app.state.settings.public_search:
        require_api_key(request)


ApiKey = Depends(require_api_key)
SearchAccess = Depends(require_search_access)
