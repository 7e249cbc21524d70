"""Errors of ``/v1`` in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

The status code is what the official SDK maps to its exception classes (400
``BadRequestError``, 401 ``AuthenticationError``, 404 ``NotFoundError``, 429
``RateLimitError``...). The SDK retries 408, 409, 429 and 5xx on its own; an answer that a
retry cannot change carries ``x-should-retry: false``.

:class:`OpenAIRoute` converts every exception a ``/v1`` route (or its dependencies) raises, so
``/api`` keeps its own error shape and handlers untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, ValidationError
from sorami_shared.logging import get_logger
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ..guards.idempotency import IdempotencyKeyReused, IdempotencyRace
from ..guards.limits import RATE, LimitExceeded
from ..infra.auth import AuthError, AuthUnavailable
from ..rest.error_inputs import MAX_ECHO_CHARS

log = get_logger(__name__)

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"


class OpenAIError(Exception):
    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        type: str = INVALID_REQUEST,  # noqa: A002 - OpenAI's field name
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}
        self.extra = extra or {}

    def response(self) -> JSONResponse:
        error = {
            "message": self.message,
            "type": self.type,
            "param": self.param,
            "code": self.code,
            **self.extra,
        }
        return JSONResponse({"error": error}, status_code=self.status_code, headers=self.headers)


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> OpenAIError:
    return OpenAIError(400, message, param=param, code=code)


def not_found(message: str, *, param: str | None = None) -> OpenAIError:
    return OpenAIError(404, message, type=INVALID_REQUEST, param=param, code="not_found")


def unavailable(message: str = "service temporarily unavailable") -> OpenAIError:
    return OpenAIError(
        503, message, type=SERVER_ERROR, code="service_unavailable", headers={"Retry-After": "2"}
    )


def _param_of(loc: tuple[Any, ...] | list[Any]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts)[:MAX_ECHO_CHARS] or None


def from_validation(errors: list[Any], *, rename: dict[str, str] | None = None) -> OpenAIError:
    """The first error of a pydantic/FastAPI validation, as OpenAI words it: unknown fields are
    'Unrecognized request argument supplied', the rest name the parameter."""
    first = dict(errors[0]) if errors else {"loc": (), "msg": "invalid request"}
    param = _param_of(first.get("loc", ()))
    head = (param or "").split(".")[0]  # a union's member (image.uuid) renames with its field
    if rename and head in rename:
        param = rename[head]
    if first.get("type") == "extra_forbidden":
        return bad_request(f"Unrecognized request argument supplied: {param}", param=param)
    if first.get("type") == "missing":
        return bad_request(f"Missing required parameter: '{param}'.", param=param)
    return bad_request(
        f"Invalid value for '{param}': {first.get('msg')}", param=param, code="invalid_value"
    )


def to_openai_error(request: Request, exc: Exception) -> OpenAIError:
    if isinstance(exc, OpenAIError):
        return exc
    if isinstance(exc, AuthError):
        return OpenAIError(
            401,
            f"Incorrect API key provided: {exc.detail}.",
            code="invalid_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if isinstance(exc, AuthUnavailable):
        log.error("identity provider unavailable", error=str(exc))
        return unavailable("authentication temporarily unavailable")
    if isinstance(exc, RequestValidationError):
        return from_validation(list(exc.errors()))
    if isinstance(exc, ValidationError):
        return from_validation(exc.errors(include_url=False))
    if isinstance(exc, LimitExceeded):
        log.info("generation refused by a limit", limit=exc.limit, reason=exc.reason)
        rate = exc.limit == RATE
        return OpenAIError(
            429,
            f"{'Rate limit reached' if rate else 'Limit reached'}: {exc.reason}. "
            f"Retry after {exc.retry_after_s} s.",
            type="rate_limit_error",
            code="rate_limit_exceeded" if rate else "too_many_unfinished_jobs",
            headers={"Retry-After": str(exc.retry_after_s)},
        )
    if isinstance(exc, IdempotencyKeyReused):
        return OpenAIError(
            409,
            str(exc),
            param="Idempotency-Key",
            code="idempotency_key_reused",
            headers={"x-should-retry": "false"},
        )
    if isinstance(exc, IdempotencyRace):
        return OpenAIError(
            409,
            "a request with this Idempotency-Key is in progress; retry",
            param="Idempotency-Key",
            code="idempotency_key_in_use",
            headers={"Retry-After": "1", "x-should-retry": "true"},
        )
    if isinstance(exc, HTTPException):
        code = {413: "request_too_large", 404: "not_found", 405: "method_not_allowed"}
        return OpenAIError(
            exc.status_code,
            str(exc.detail),
            type=INVALID_REQUEST if exc.status_code < 500 else SERVER_ERROR,
            code=code.get(exc.status_code),
            headers=dict(exc.headers or {}),
        )
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        log.error("database unavailable", error=type(getattr(exc, "orig", None) or exc).__name__)
        return unavailable()
    if isinstance(exc, OSError):
        log.error("dependency unreachable", error=repr(exc))
        return unavailable()
    log.exception("unhandled error", path=request.url.path)
    return OpenAIError(
        500,
        "The server had an error while processing your request.",
        type=SERVER_ERROR,
        extra={"correlation_id": getattr(request.state, "correlation_id", None)},
    )


class OpenAIErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIErrorBody(BaseModel):
    """Every ``/v1`` error: ``{"error": {"message", "type", "param", "code"}}``."""

    error: OpenAIErrorDetail


# For the routers' ``responses=``: /v1 never answers FastAPI's 422 shape; every 4xx and 5xx
# is an OpenAI error (what the OpenAPI document, and the schema fuzzing, rely on).
OPENAI_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": OpenAIErrorBody, "description": "Client error, in OpenAI's shape"},
    "5XX": {"model": OpenAIErrorBody, "description": "Server-side error, in OpenAI's shape"},
}


class OpenAIRoute(APIRoute):
    """A route whose every error (validation, auth, limits, bugs) answers in OpenAI's shape."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:  # noqa: BLE001 - every error becomes an OpenAI error
                return to_openai_error(request, exc).response()

        return handle
