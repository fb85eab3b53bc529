"""What every upload endpoint checks the same way: the body's size as it arrives, the file field, its content type."""

from __future__ import annotations

from fastapi import HTTPException, Request
from starlette.datastructures import FormData, UploadFile
from starlette.types import Message

from app.settings import Settings

MULTIPART_SLACK = 64 * 1024  # headers and other fields around the file in a multipart body
MAX_JSON_BYTES = 4 * 1024 * 1024  # a JSON body names an indexed clip: 1000 labels of 300 characters, escaped, fit


def too_large(settings: Settings) -> HTTPException:
    return HTTPException(413, f"upload larger than the {settings.max_upload_mb:g} MB limit")


def upload_request(request: Request, settings: Settings) -> Request:
    """``request`` for reading a multipart upload of at most the configured size (see :func:`limited_request`)."""
    return limited_request(request, settings.max_upload_bytes + MULTIPART_SLACK, too_large(settings))


def json_request(request: Request, settings: Settings) -> Request:
    """``request`` for reading a JSON body, which is never larger than ``MAX_JSON_BYTES`` nor than an upload."""
    limit = min(settings.max_upload_bytes, MAX_JSON_BYTES)
    return limited_request(request, limit, HTTPException(413, f"JSON body larger than {limit / 2**20:g} MB"))


def limited_request(request: Request, limit: int, refusal: HTTPException) -> Request:
    """The same request, its body read through a receive channel that counts bytes as they arrive and raises
    ``refusal`` (a 413) as soon as they pass ``limit``. A declared Content-Length is not enough: a chunked body
    has none, and would otherwise be spooled whole to disk (multipart) or memory (JSON) before being judged.
    Parse the form or the body from the returned request, not from ``request``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise refusal
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise refusal
        return message

    return Request(request.scope, receive)


def form_file(form: FormData, what: str, content_types: tuple[str, ...]) -> UploadFile:
    """The multipart field ``file``: 422 when missing, 415 when its declared type is not one of ``content_types``."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise HTTPException(422, f"multipart field 'file' ({what}) is missing")
    if upload.content_type and not upload.content_type.lower().startswith(content_types):
        raise HTTPException(415, f"'file' must be {what}, got content type {upload.content_type!r}")
    return upload
