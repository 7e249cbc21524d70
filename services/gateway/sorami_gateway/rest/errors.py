"""Error answers shared by every ``/api`` route: 422 naming the field, 401 with
``WWW-Authenticate``, 503 when a dependency is down, and a 500 that carries no internals (only
for our own bugs, never for client input)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sorami_shared.logging import get_logger
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ..infra.auth import AuthError, AuthUnavailable
from .bodies import non_json_content_type, unsupported_media_type
from .error_inputs import safe_errors

log = get_logger(__name__)

UNAUTHENTICATED: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, malformed, expired or wrongly signed bearer token"},
    503: {"description": "A dependency (database, identity provider) is unavailable"},
}


def body_validation_error(exc: ValidationError) -> RequestValidationError:
    """A pydantic error on the request body, located like FastAPI's own (``["body", field]``)."""
    errors: list[dict[str, Any]] = []
    for error in exc.errors(include_url=False):
        error = dict(error)
        error["loc"] = ("body", *error["loc"])
        if isinstance(error.get("input"), bytes | bytearray):
            # an unparseable body comes back as bytes, maybe not UTF-8: never fail to answer
            error["input"] = bytes(error["input"]).decode("utf-8", "replace")
        if not _json_safe(error.get("ctx")):
            del error["ctx"]
        errors.append(error)
    return RequestValidationError(errors)


def _json_safe(value: Any) -> bool:
    return value is None or all(isinstance(v, str | int | float | bool) for v in value.values())


def error_response(
    status_code: int, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """An ``/api`` error answer: ``{"detail": ...}``."""
    return JSONResponse({"detail": detail}, status_code=status_code, headers=headers)


def _unavailable(detail: str, *, retry_after_s: int) -> JSONResponse:
    """A 503: a dependency is down; the client may retry after ``retry_after_s``."""
    return error_response(503, detail, {"Retry-After": str(retry_after_s)})


def install_error_handlers(app: FastAPI) -> None:
    """The answers every ``/api`` route shares; a feature adds its own errors' answers
    (e.g. :func:`sorami_gateway.guards.errors.install_guard_handlers`)."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        media = non_json_content_type(request)
        if media is not None and any(e.get("loc", ("",))[0] == "body" for e in exc.errors()):
            # FastAPI left a non-JSON body unparsed: say why, not "not a valid dictionary"
            refusal = unsupported_media_type(media)
            return error_response(refusal.status_code, refusal.detail)
        # FastAPI's own handler, but the echoed input is bounded and JSON-safe (NaN, 1e999)
        return JSONResponse({"detail": safe_errors(exc.errors())}, status_code=422)

    @app.exception_handler(AuthError)
    async def _auth(_: Request, exc: AuthError) -> JSONResponse:
        return error_response(401, exc.detail, {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(AuthUnavailable)
    async def _auth_down(_: Request, exc: AuthUnavailable) -> JSONResponse:
        log.error("identity provider unavailable", error=str(exc))
        return _unavailable("authentication temporarily unavailable", retry_after_s=5)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeout)
    async def _db_down(_: Request, exc: Exception) -> JSONResponse:
        orig = getattr(exc, "orig", None)
        log.error("database unavailable", error=type(orig or exc).__name__)
        return _unavailable("service temporarily unavailable", retry_after_s=2)

    @app.exception_handler(OSError)
    async def _os(_: Request, exc: OSError) -> JSONResponse:
        log.error("dependency unreachable", error=repr(exc))
        return _unavailable("service temporarily unavailable", retry_after_s=2)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        return JSONResponse(
            {
                "detail": "internal error",
                "correlation_id": getattr(request.state, "correlation_id", None),
            },
            status_code=500,
        )
