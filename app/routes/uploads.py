"""What every upload endpoint checks the same way: declared size, the file field, its content type."""

from __future__ import annotations

from fastapi import HTTPException, Request
from starlette.datastructures import FormData, UploadFile

from app.settings import Settings

MULTIPART_SLACK = 64 * 1024  # headers and other fields around the file in a multipart body


def too_large(settings: Settings) -> HTTPException:
    return HTTPException(413, f"upload larger than the {settings.max_upload_mb:g} MB limit")


def refuse_declared_oversize(request: Request, settings: Settings) -> None:
    """413 before reading a body whose Content-Length is already over the limit."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.max_upload_bytes + MULTIPART_SLACK:
        raise too_large(settings)


def form_file(form: FormData, what: str, content_types: tuple[str, ...]) -> UploadFile:
    """The multipart field ``file``: 422 when missing, 415 when its declared type is not one of ``content_types``."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise HTTPException(422, f"multipart field 'file' ({what}) is missing")
    if upload.content_type and not upload.content_type.lower().startswith(content_types):
        raise HTTPException(415, f"'file' must be {what}, got content type {upload.content_type!r}")
    return upload
