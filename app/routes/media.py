"""Serving catalogued videos (HTTP Range) and posters, by id only: never by a path from the client.

A video is served only once the read side of the index has checked it (``VidseekService.video_file``: inside
the library, still the file that was indexed), and what is sent is the file descriptor that was checked. GET and
HEAD answer alike; HEAD sends no body.
"""

from __future__ import annotations

import mimetypes
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import anyio
from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from starlette.types import Receive, Scope, Send

from app.deps import ServiceDep
from app.services import VideoFile

router = APIRouter(tags=["media"])
MAX_ID = 2**63 - 1  # ids are SQL/FAISS 64-bit integers
VideoId = Annotated[int, PathParam(ge=0, le=MAX_ID, description="a catalogued video's id")]
SegmentId = Annotated[int, PathParam(ge=0, le=MAX_ID, description="a segment's id")]
VIDEO_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".avi": "video/x-msvideo",
}
VIDEO_RESPONSES = {206: {"description": "partial content"}, 404: {}, 416: {}}


class CheckedFileResponse(FileResponse):
    """Starlette's FileResponse (Range, HEAD, ETag), sending an open file that was checked instead of opening its
    path again: a path swapped between the check and the transfer cannot change what is sent."""

    def __init__(self, video_file: VideoFile, media_type: str):
        super().__init__(
            video_file.path,
            media_type=media_type,
            filename=video_file.name,
            stat_result=video_file.stat,
            content_disposition_type="inline",
        )
        self.video_file = video_file

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The ASGI pathsend extension would have the server open the path itself.
        extensions = {k: v for k, v in scope.get("extensions", {}).items() if k != "http.response.pathsend"}
        try:
            await super().__call__({**scope, "extensions": extensions}, receive, send)
        finally:
            self.video_file.close()

    @asynccontextmanager
    async def _open_file(self):
        file = self.video_file.file
        file.seek(0)
        yield anyio.wrap_file(file)  # closed in __call__, once the whole response is sent


@router.get("/videos/{video_id}", response_class=FileResponse, responses=VIDEO_RESPONSES)
@router.head("/videos/{video_id}", response_class=FileResponse, responses=VIDEO_RESPONSES)
def video_file(video_id: VideoId, service: ServiceDep):
    """The video file, with Range support (206 partial content) so browsers can seek."""
    checked = service.video_file(video_id)  # raises NotFoundError: a 404
    name = checked.name  # as catalogued: a link's own name
    media_type = VIDEO_TYPES.get(Path(name).suffix.lower()) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return CheckedFileResponse(checked, media_type)


@router.get("/thumbnails/{segment_id}.jpg", response_class=FileResponse, responses={404: {}})
@router.head("/thumbnails/{segment_id}.jpg", response_class=FileResponse, responses={404: {}})
def thumbnail(segment_id: SegmentId, service: ServiceDep):
    """The poster (JPEG) of a segment."""
    return FileResponse(service.poster(segment_id), media_type="image/jpeg")  # raises NotFoundError: a 404
