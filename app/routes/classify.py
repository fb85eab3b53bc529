"""POST /classify: zero-shot classification of an uploaded video or of an indexed segment/video, and (``timeline``)
its action timeline: the top label over time, runs of the same label merged."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from app.deps import ApiKey, ServiceDep, SettingsDep
from app.present import classify_response
from app.routes.uploads import form_file, json_request, too_large, upload_request
from app.schemas import DEFAULT_TEMPLATE, ClassifyRequest, ClassifyResponse, check_template, form_labels
from models.views import parse_views

router = APIRouter(tags=["classify"])


TRUE_WORDS, FALSE_WORDS = ("true", "1", "on", "yes"), ("false", "0", "off", "no", "")

VIDEO_CONTENT_TYPES = ("video/", "application/octet-stream")
MAX_VIEWS = 12  # the paper's 3x4: each view costs an upload one more clip's encoding

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
                        "views": {
                            "type": "string",
                            "default": "1x1",
                            "description": "spatial crops (1 or 3) x temporal views, at most "
                            f"{MAX_VIEWS} in all; each view's softmax averaged, as `vidseek classify --views`",
                        },
                        "timeline": {
                            "type": "string",
                            "default": "false",
                            "description": "true: also classify each segment (cut as the index cuts videos, 1x1 views)",
                        },
                    },
                }
            },
        },
    }
}


@router.post(
    "/classify",
    dependencies=[ApiKey],
    response_model=ClassifyResponse,
    response_model_exclude_none=True,
    openapi_extra=_OPENAPI_BODY,
    responses={404: {}, 413: {}, 415: {}, 422: {}},
)
async def classify(request: Request, service: ServiceDep, settings: SettingsDep) -> ClassifyResponse:
    """Rank ``labels`` for a clip: upload a video (multipart ``file`` + ``labels``), or send JSON
    ``{segment_id | video_id, labels, template}`` for an indexed one. Probabilities are a softmax over
    cosine x the model's logit scale. With ``timeline`` (a video_id, or an upload's form field) the answer also
    holds the top label over time, runs of the same label merged."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        body = await _json_body(request, settings)
        if body.segment_id is not None:
            ranked = await run_in_threadpool(service.classify_segment, body.segment_id, body.labels, body.template)
            return classify_response(ranked)
        ranked = await run_in_threadpool(service.classify_video, body.video_id, body.labels, body.template)
        if not body.timeline:
            return classify_response(ranked)
        timeline = await run_in_threadpool(service.classify_video_timeline, body.video_id, body.labels, body.template)
        return classify_response(ranked, timeline)
    if content_type != "multipart/form-data":
        raise HTTPException(415, "send multipart/form-data with a video 'file' and 'labels', or JSON with segment_id/video_id")
    return await _classify_upload(request, service, settings)


async def _json_body(request: Request, settings) -> ClassifyRequest:
    """The JSON body, read up to its limit and parsed off the event loop by pydantic's own parser (which bounds
    nesting depth: ``json.loads`` raised RecursionError, a 500, on 100,000 nested brackets)."""
    raw = await json_request(request, settings).body()
    try:
        return await run_in_threadpool(ClassifyRequest.model_validate_json, raw)
    except ValidationError as exc:
        raise HTTPException(422, _reason(exc)) from None


def _form_options(form) -> tuple[list[str], str, tuple[int, int], bool]:
    """The labels, the template, the views and the timeline switch of an upload's form (raises ValueError)."""
    labels = form_labels([v for v in form.getlist("labels") if isinstance(v, str)])
    template = str(form.get("template") or DEFAULT_TEMPLATE)
    check_template(template)
    views = parse_views(str(form.get("views") or "1x1"))
    if views[0] * views[1] > MAX_VIEWS:
        raise ValueError(f"views: at most {MAX_VIEWS} views in all (3x4), not {views[0]}x{views[1]}")
    return labels, template, views, _form_switch(form.get("timeline"), "timeline")


def _form_switch(value, name: str) -> bool:
    """A form's on/off field: true/1/on/yes or false/0/off/no (absent: off); raises ValueError otherwise."""
    word = value.strip().lower() if isinstance(value, str) else ("" if value is None else None)
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise ValueError(f"{name}: expected true or false")


async def _classify_upload(request: Request, service, settings) -> ClassifyResponse:
    limit = settings.max_upload_bytes
    async with upload_request(request, settings).form(max_files=1, max_fields=1000) as form:
        upload = form_file(form, "a video", VIDEO_CONTENT_TYPES)
        try:
            labels, template, views, timeline = await run_in_threadpool(_form_options, form)
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
            ranked = await run_in_threadpool(service.classify_file, Path(name), labels, template, views=views)
            runs = None
            if timeline:
                runs = await run_in_threadpool(service.classify_file_timeline, Path(name), labels, template)
        finally:
            os.unlink(name)  # uploads never outlive the request
    return classify_response(ranked, runs)


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


def _reason(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
