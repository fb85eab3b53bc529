"""Typed dependencies for the routes (overridable in tests)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.services import VidseekService
from app.settings import Settings


def get_service(request: Request) -> VidseekService:
    return request.app.state.service


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


ServiceDep = Annotated[VidseekService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
