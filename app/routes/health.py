"""GET /healthz: liveness plus what is loaded."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import ServiceDep
from app.schemas import Health

router = APIRouter(tags=["ops"])


@router.get("/healthz", response_model=Health)
@router.head("/healthz", include_in_schema=False)  # probes that send HEAD; the OpenAPI document lists the GET
def healthz(service: ServiceDep) -> Health:
    reader = service.reader
    return Health(
        status="ok",
        index=reader is not None,
        segments=reader.count if reader else 0,
        videos=reader.manifest.videos if reader else 0,
        model=service.encoder.spec.name,
        generation=reader.generation.name if reader else None,
    )
