"""How ``/api`` answers a guard's refusal: 429 with ``Retry-After`` for a limit, 409 for a
reused or in-flight ``Idempotency-Key``. (``/v1`` words them OpenAI's way.)"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sorami_shared.logging import get_logger

from ..rest.errors import error_response
from .idempotency import IdempotencyKeyReused, IdempotencyRace
from .limits import LimitExceeded

log = get_logger(__name__)


def install_guard_handlers(app: FastAPI) -> None:
    @app.exception_handler(LimitExceeded)
    async def _limited(_: Request, exc: LimitExceeded) -> JSONResponse:
        log.info(
            "generation refused",
            limit=exc.limit,
            reason=exc.reason,
            retry_after_s=exc.retry_after_s,
        )
        return JSONResponse(
            {"detail": exc.reason, "limit": exc.limit, "retry_after_s": exc.retry_after_s},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after_s)},
        )

    @app.exception_handler(IdempotencyKeyReused)
    async def _key_reused(_: Request, exc: IdempotencyKeyReused) -> JSONResponse:
        return error_response(409, str(exc))

    @app.exception_handler(IdempotencyRace)
    async def _key_race(_: Request, exc: IdempotencyRace) -> JSONResponse:
        detail = "a request with this Idempotency-Key is in progress; retry"
        return error_response(409, detail, {"Retry-After": "1"})
