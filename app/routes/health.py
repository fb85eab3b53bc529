"""GET /healthz: liveness plus what is loaded."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import ServiceDep
from app.schemas import Health

router = APIRouter(tags=["ops"])


@router.get("/healthz", response_model=Health)
@router.head("/healthz", include_in_schema=False)  # probes that send HEAD; the OpenAPI document lists the GET
def healthz(service: ServiceDep) -> Health:
    summary = service.index_summary()
    return Health(
        status="ok",
        index=summary is not None,
        segments=summary.segments if summary else 0,
        videos=summary.videos if summary else 0,
        model=service.encoder.spec.name,
        generation=summary.generation if summary else None,
    )
