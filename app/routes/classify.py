"""POST /classify: zero-shot classification of an uploaded video or of an indexed segment/video."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from app.deps import ApiKey, ServiceDep, SettingsDep
from app.routes.uploads import form_file, refuse_declared_oversize, too_large
from app.schemas import DEFAULT_TEMPLATE, ClassifyRequest, ClassifyResponse, LabelScore, check_template, clean_labels

router = APIRouter(tags=["classify"])

VIDEO_CONTENT_TYPES = ("video/", "application/octet-stream")

_OPENAPI_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": ClassifyRequest.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "labels"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "the video to classify"},
                        "labels": {"type": "string", "description": "comma-separated labels (or repeat the field)"},
                        "template": {"type": "string", "default": DEFAULT_TEMPLATE},
                    },
                }
            },
        },
    }
}


def _response(ranked) -> ClassifyResponse:
    return ClassifyResponse(labels=[LabelScore(label=l, score=s, probability=p) for l, s, p in ranked])


@router.post(
    "/classify",
    dependencies=[ApiKey],
    response_model=ClassifyResponse,
    openapi_extra=_OPENAPI_BODY,
    responses={404: {}, 413: {}, 415: {}, 422: {}},
)
async def classify(request: Request, service: ServiceDep, settings: SettingsDep) -> ClassifyResponse:
    """Rank ``labels`` for a clip: upload a video (multipart ``file`` + ``labels``), or send JSON
    ``{segment_id | video_id, labels, template}`` for an indexed one. Probabilities are a softmax over
    cosine x the model's logit scale."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            body = ClassifyRequest.model_validate(json.loads(await request.body() or b"null"))
        except (ValueError, ValidationError) as exc:
            raise HTTPException(422, _reason(exc)) from None
        if body.segment_id is not None:
            ranked = await run_in_threadpool(service.classify_segment, body.segment_id, body.labels, body.template)
        else:
            ranked = await run_in_threadpool(service.classify_video, body.video_id, body.labels, body.template)
        return _response(ranked)
    if content_type != "multipart/form-data":
        raise HTTPException(415, "send multipart/form-data with a video 'file' and 'labels', or JSON with segment_id/video_id")
    return await _classify_upload(request, service, settings)


async def _classify_upload(request: Request, service, settings) -> ClassifyResponse:
    limit = settings.max_upload_bytes
    refuse_declared_oversize(request, settings)
    async with request.form(max_files=1, max_fields=1000) as form:
        upload = form_file(form, "a video", VIDEO_CONTENT_TYPES)
        raw_labels = [v for v in form.getlist("labels") if isinstance(v, str)]
        template = form.get("template") or DEFAULT_TEMPLATE
        try:
            labels = clean_labels([part for value in raw_labels for part in value.split(",")])
            check_template(str(template))
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        suffix = Path(upload.filename or "upload").suffix[:8]
        fd, name = tempfile.mkstemp(prefix="vidseek-upload-", suffix=suffix)
        try:
            with os.fdopen(fd, "wb") as out:
                size = await run_in_threadpool(_copy_limited, upload.file, out, limit)
            if size is None:
                raise too_large(settings)
            if size == 0:
                raise HTTPException(422, "the uploaded file is empty")
            ranked = await run_in_threadpool(service.classify_file, Path(name), labels, str(template))
        finally:
            os.unlink(name)  # uploads never outlive the request
    return _response(ranked)


def _copy_limited(source, target, limit: int) -> int | None:
    """Copy at most ``limit`` bytes; None when the source is larger."""
    source.seek(0)
    copied = 0
    while chunk := source.read(1 << 20):
        copied += len(chunk)
        if copied > limit:
            return None
        target.write(chunk)
    return copied


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
    return f"invalid JSON body: {exc}"
