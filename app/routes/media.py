"""Serving catalogued files (HTTP Range) and what the index made of them: previews, sprite sheets and their
tracks, photos as a browser shows them, and posters, by id only: never by a path from the client.

A library file is served only once the read side of the index has checked it (``VidseekService.video_file``:
inside the library, still the file that was indexed), and what is sent is the file descriptor that was checked.
Every route answers GET and HEAD alike (HEAD sends no body) with ``Accept-Ranges: bytes``, and a 404 that says why
when there is nothing to send.
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
from app.services import ServedFile, VideoFile

router = APIRouter(tags=["media"])
MAX_ID = 2**63 - 1  # ids are SQL/FAISS 64-bit integers
VideoId = Annotated[int, PathParam(ge=0, le=MAX_ID, description="a catalogued video's id")]
SegmentId = Annotated[int, PathParam(ge=0, le=MAX_ID, description="a segment's id")]
# Every container the scan indexes, and the photos: what /videos says an original is.
VIDEO_TYPES = {
    **dict.fromkeys((".mp4", ".m4v", ".f4v"), "video/mp4"),
    **dict.fromkeys((".mov", ".qt"), "video/quicktime"),
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".avi": "video/x-msvideo",
    ".wmv": "video/x-ms-wmv",
    ".asf": "video/x-ms-asf",
    ".flv": "video/x-flv",
    ".3gp": "video/3gpp",
    ".3g2": "video/3gpp2",
    **dict.fromkeys((".mts", ".m2ts", ".m2t", ".ts"), "video/mp2t"),
    **dict.fromkeys((".mpg", ".mpeg", ".mpe", ".m1v", ".m2v", ".vob", ".mod", ".tod"), "video/mpeg"),
    ".mxf": "application/mxf",
    **dict.fromkeys((".ogv", ".ogm"), "video/ogg"),
    ".dv": "video/dv",
    **dict.fromkeys((".divx", ".xvid"), "video/x-msvideo"),  # AVI files by their codec's name
    **dict.fromkeys((".rm", ".rmvb"), "application/vnd.rn-realmedia"),
    # No registered types: the names players that know these formats use.
    ".nut": "video/x-nut",
    ".y4m": "video/x-yuv4mpeg",
    **dict.fromkeys((".mjpeg", ".mjpg"), "video/x-motion-jpeg"),
    **dict.fromkeys((".jpg", ".jpeg"), "image/jpeg"),
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".avif": "image/avif",
    **dict.fromkeys((".tif", ".tiff"), "image/tiff"),
    ".bmp": "image/bmp",
}
VTT_TYPE = "text/vtt; charset=utf-8"
VIDEO_RESPONSES = {206: {"description": "partial content"}, 404: {}, 416: {}}
PHOTO_RESPONSES = {**VIDEO_RESPONSES, 422: {"description": "the photo cannot be read"}}


def original_type(name: str) -> str:
    """The media type of an original, by its catalogued name."""
    return VIDEO_TYPES.get(Path(name).suffix.lower()) or mimetypes.guess_type(name)[0] or "application/octet-stream"


class CheckedFileResponse(FileResponse):
    """Starlette's FileResponse (Range, HEAD, ETag), sending a file that is already open (a checked library file,
    a file of the index dir, or a picture made in memory) instead of opening its path again: a path swapped between
    the check and the transfer cannot change what is sent."""

    def __init__(self, opened: VideoFile | ServedFile, media_type: str):
        super().__init__(
            opened.path,
            media_type=media_type,
            filename=opened.name,
            stat_result=opened.stat,
            content_disposition_type="inline",
        )
        self.opened = opened

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The ASGI pathsend extension would have the server open the path itself.
        extensions = {k: v for k, v in scope.get("extensions", {}).items() if k != "http.response.pathsend"}
        try:
            await super().__call__({**scope, "extensions": extensions}, receive, send)
        finally:
            self.opened.close()

    @asynccontextmanager
    async def _open_file(self):
        file = self.opened.file
        file.seek(0)
        yield anyio.wrap_file(file)  # closed in __call__, once the whole response is sent


@router.get("/videos/{video_id}", response_class=FileResponse, responses=VIDEO_RESPONSES)
@router.head("/videos/{video_id}", response_class=FileResponse, responses=VIDEO_RESPONSES)
def video_file(video_id: VideoId, service: ServiceDep):
    """The file as it is in the library (a video or a photo), with Range support (206 partial content) so browsers
    can seek."""
    checked = service.video_file(video_id)  # raises NotFoundError: a 404
    return CheckedFileResponse(checked, original_type(checked.name))  # by its name as catalogued: a link's own


@router.get("/previews/{video_id}.mp4", response_class=FileResponse, responses=VIDEO_RESPONSES)
@router.head("/previews/{video_id}.mp4", response_class=FileResponse, responses=VIDEO_RESPONSES)
def preview(video_id: VideoId, service: ServiceDep):
    """A video's browser-playable preview (H.264 in MP4), where the build made one (404 says why not)."""
    return CheckedFileResponse(service.preview(video_id), "video/mp4")


@router.get("/sprites/{video_id}.jpg", response_class=FileResponse, responses=VIDEO_RESPONSES)
@router.head("/sprites/{video_id}.jpg", response_class=FileResponse, responses=VIDEO_RESPONSES)
def sprite_sheet(video_id: VideoId, service: ServiceDep):
    """A video's sprite sheet (JPEG): its frames in a grid, for scrubbing."""
    return CheckedFileResponse(service.sprites(video_id, "jpg"), "image/jpeg")


@router.get("/sprites/{video_id}.vtt", response_class=FileResponse, responses=VIDEO_RESPONSES)
@router.head("/sprites/{video_id}.vtt", response_class=FileResponse, responses=VIDEO_RESPONSES)
def sprite_track(video_id: VideoId, service: ServiceDep):
    """A video's WebVTT thumbnails track: one cue per tile, ``<video_id>.jpg#xywh=x,y,w,h`` (relative to it)."""
    return CheckedFileResponse(service.sprites(video_id, "vtt"), VTT_TYPE)


@router.get("/photos/{video_id}", response_class=FileResponse, responses=PHOTO_RESPONSES)
@router.head("/photos/{video_id}", response_class=FileResponse, responses=PHOTO_RESPONSES)
def photo(video_id: VideoId, service: ServiceDep):
    """A photo as a browser shows it: a JPEG, PNG, WebP or GIF as it is, any other picture (HEIC, TIFF, ...) as a
    JPEG at most 2560 pixels long (422 when it cannot be read). Runs in the thread pool, as sync routes do."""
    opened, media_type = service.photo(video_id)
    return CheckedFileResponse(opened, media_type)


@router.get("/thumbnails/{segment_id}.jpg", response_class=FileResponse, responses={404: {}})
@router.head("/thumbnails/{segment_id}.jpg", response_class=FileResponse, responses={404: {}})
def thumbnail(segment_id: SegmentId, service: ServiceDep):
    """The poster (JPEG) of a segment."""
    return FileResponse(service.poster(segment_id), media_type="image/jpeg")  # raises NotFoundError: a 404
