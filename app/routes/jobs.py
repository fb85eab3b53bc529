"""Indexing jobs: GET /jobs (the last ones, with progress), POST /jobs/index (rescan the library now), POST
/jobs/{id}/cancel and /jobs/{id}/retry (these three need the API key when one is set), GET /jobs/events (their
changes as server-sent events, for live progress) and the Jobs page, GET /jobs/page."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.deps import ApiKey, ServiceDep
from app.present import job_response
from app.routes.media import MAX_ID
from app.routes.rendering import PAGE_METHODS, render
from app.schemas import JobRequested, JobResponse, JobsResponse
from app.services.jobs import Jobs

router = APIRouter(tags=["jobs"])
EVENTS_EVERY_SECONDS = 0.5  # how often an event stream looks for changes
KEEPALIVE_SECONDS = 15.0  # a comment line this often keeps proxies from closing a quiet stream
MAX_EVENT_STREAMS = 32  # open event streams at once (each reads the job store twice a second)
_streams = threading.BoundedSemaphore(MAX_EVENT_STREAMS)

JobId = Annotated[int, Path(ge=1, le=MAX_ID)]


def get_jobs(request: Request) -> Jobs:
    return request.app.state.jobs


JobsDep = Annotated[Jobs, Depends(get_jobs)]


def _library(service) -> str:
    reader = service.reader
    return reader.manifest.library if reader is not None else ""


@router.get("/jobs", response_model=JobsResponse)
async def list_jobs(jobs: JobsDep, service: ServiceDep) -> JobsResponse:
    """The last 50 indexing jobs, newest first, with their progress."""
    records = await run_in_threadpool(jobs.recent)
    return JobsResponse(jobs=[job_response(j, _library(service)) for j in records])


@router.post("/jobs/index", dependencies=[ApiKey], response_model=JobRequested, status_code=202, responses={409: {}})
async def rescan(jobs: JobsDep, service: ServiceDep) -> JobRequested:
    """Rescan the library now: an incremental build as a job (new, changed, moved and deleted files). While one
    is queued, requests join it: two at once make one build."""
    if not jobs.can_update():
        raise HTTPException(409, "there is no index to update yet: build one first (vidseek index build LIBRARY)")
    job, new = await run_in_threadpool(jobs.request_index, "rescan requested")
    return JobRequested(job=job_response(job, _library(service)), new=new)


@router.get("/jobs/events")
async def job_events(request: Request, jobs: JobsDep, service: ServiceDep) -> StreamingResponse:
    """Server-sent events: ``event: jobs`` with ``{"jobs": [...]}`` (as GET /jobs) whenever a job changes."""
    if not _streams.acquire(blocking=False):
        raise HTTPException(503, f"{MAX_EVENT_STREAMS} job event streams are open already; try again later")

    async def stream():
        try:
            last, quiet = None, 0.0
            while not await request.is_disconnected():
                records = await run_in_threadpool(jobs.recent, 20)
                body = JobsResponse(jobs=[job_response(j, _library(service)) for j in records]).model_dump(mode="json")
                text = json.dumps(body, separators=(",", ":"))
                if text != last:
                    last, quiet = text, 0.0
                    yield f"event: jobs\ndata: {text}\n\n"
                elif quiet >= KEEPALIVE_SECONDS:
                    quiet = 0.0
                    yield ": keep-alive\n\n"
                await asyncio.sleep(EVENTS_EVERY_SECONDS)
                quiet += EVENTS_EVERY_SECONDS
        finally:
            _streams.release()

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


# before /jobs/{job_id}, which would take "page" for an id (a 422)
@router.api_route("/jobs/page", methods=PAGE_METHODS, response_class=HTMLResponse, include_in_schema=False)
def jobs_page(request: Request, service: ServiceDep, jobs: JobsDep):
    """The Jobs page: each job's progress, live (GET /jobs/events), with rescan, cancel and retry."""
    records = jobs.recent()
    context = {
        "page": "jobs",
        "jobs": [job_response(j, _library(service)).model_dump(mode="json") for j in records],
        "can_update": jobs.can_update(),
    }
    return render(request, "jobs.html", service, context)


@router.get("/jobs/{job_id}", response_model=JobResponse, responses={404: {}})
async def get_job(job_id: JobId, jobs: JobsDep, service: ServiceDep) -> JobResponse:
    job = await run_in_threadpool(jobs.get, job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id}")
    return job_response(job, _library(service))


@router.post("/jobs/{job_id}/cancel", dependencies=[ApiKey], response_model=JobResponse, responses={404: {}})
async def cancel_job(job_id: JobId, jobs: JobsDep, service: ServiceDep) -> JobResponse:
    """Cancel a job: a queued one at once; a running one stops its build (what it did is dropped, the index it
    began from keeps serving). A finished job is returned as it is."""
    job = await run_in_threadpool(jobs.cancel, job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id}")
    return job_response(job, _library(service))


@router.post("/jobs/{job_id}/retry", dependencies=[ApiKey], response_model=JobResponse, responses={404: {}, 409: {}})
async def retry_job(job_id: JobId, jobs: JobsDep, service: ServiceDep) -> JobResponse:
    """A new job doing again what a failed or cancelled one did."""
    old = await run_in_threadpool(jobs.get, job_id)
    if old is None:
        raise HTTPException(404, f"no job {job_id}")
    if old.status not in ("failed", "cancelled"):
        raise HTTPException(409, f"job {job_id} is {old.status}: only a failed or cancelled job can be retried")
    job = await run_in_threadpool(jobs.retry, job_id)
    return job_response(job, _library(service))
