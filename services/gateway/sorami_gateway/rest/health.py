"""Liveness and readiness."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ..infra.readiness import Readiness
from .deps import Component

readiness_component: Component[Readiness] = Component("readiness")

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "A dependency is unreachable"}})
async def readyz(readiness: Annotated[Readiness, Depends(readiness_component)]) -> JSONResponse:
    """The database and the broker are reachable."""
    database, broker = await asyncio.gather(readiness.database(), readiness.broker())
    ready = database and broker
    return JSONResponse(
        {
            "status": "ready" if ready else "unavailable",
            "database": "ok" if database else "unreachable",
            "broker": "ok" if broker else "unreachable",
        },
        status_code=200 if ready else 503,
    )
