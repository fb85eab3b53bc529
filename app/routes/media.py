"""Serving catalogued videos (HTTP Range) and posters, by id only: never by a path from the client."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from app.deps import ServiceDep

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


@router.get(
    "/videos/{video_id}", response_class=FileResponse, responses={206: {"description": "partial content"}, 404: {}, 416: {}}
)
def video_file(video_id: VideoId, service: ServiceDep):
    """The video file, with Range support (206 partial content) so browsers can seek."""
    video = service.require_reader().video(video_id)
    if video is None or video.status != "indexed":
        raise HTTPException(404, f"no indexed video {video_id}")
    path = Path(video.path)
    if not path.is_file():
        raise HTTPException(404, f"video {video_id} is in the index but its file is gone: re-run 'vidseek index build'")
    media_type = VIDEO_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, filename=path.name, content_disposition_type="inline")


@router.get("/thumbnails/{segment_id}.jpg", response_class=FileResponse, responses={404: {}})
def thumbnail(segment_id: SegmentId, service: ServiceDep):
    """The poster (JPEG) of a segment."""
    path = service.require_reader().thumbnail_path(segment_id)
    if not path.is_file():
        raise HTTPException(404, f"no poster for segment {segment_id}")
    return FileResponse(path, media_type="image/jpeg")
