"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from .deps import Context

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "A dependency is unreachable"}})
async def readyz(context: Context) -> JSONResponse:
    """The database and the broker are reachable."""
    database, broker = await asyncio.gather(
        context.readiness.database(), context.readiness.broker()
    )
    ready = database and broker
    return JSONResponse(
        {
            "status": "ready" if ready else "unavailable",
            "database": "ok" if database else "unreachable",
            "broker": "ok" if broker else "unreachable",
        },
        status_code=200 if ready else 503,
    )
