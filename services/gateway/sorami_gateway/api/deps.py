"""FastAPI dependencies: ``SessionDep``, ``CurrentUser``, the correlation id, the app's
shared objects (built in the lifespan, kept on ``app.state``), and the page cursor."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sorami_shared.events import Kind
from sorami_shared.storage import Storage
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth import MISSING_TOKEN, Authenticator, AuthError
from ..cursor import Cursor, InvalidCursor
from ..db import SessionFactory
from ..generation_requests import GenerateRequestBase
from ..media_urls import MediaUrls
from ..readiness import Readiness
from ..settings import GatewaySettings


@dataclass
class AppContext:
    settings: GatewaySettings
    sessions: SessionFactory
    authenticator: Authenticator
    request_models: dict[Kind, type[GenerateRequestBase]]
    media_urls: MediaUrls
    storage: Storage | None
    readiness: Readiness


def get_context(request: Request) -> AppContext:
    return request.app.state.context  # type: ignore[no-any-return]


Context = Annotated[AppContext, Depends(get_context)]


async def get_session(context: Context) -> AsyncIterator[AsyncSession]:
    # Closing without commit rolls back: only a route that commits changes anything.
    async with context.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False, description="JWT; the user id is its `sub` claim")


async def get_current_user(
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthError("missing bearer token", MISSING_TOKEN)
    return await context.authenticator.user_id(credentials.credentials)


CurrentUser = Annotated[str, Depends(get_current_user)]


def get_correlation_id(request: Request) -> str:
    value = getattr(request.state, "correlation_id", None)
    return value or str(uuid.uuid4())


CorrelationId = Annotated[str, Depends(get_correlation_id)]


# The opaque ``cursor`` query parameter of a paged listing; decoded by :func:`page_cursor`.
CursorQuery = Annotated[str | None, Query(max_length=200)]


def page_cursor(cursor: str | None) -> Cursor | None:
    """The decoded ``cursor`` (None for the first page); a malformed one is a 422 naming
    ``("query", "cursor")``, like FastAPI's own validation errors."""
    try:
        return Cursor.decode(cursor) if cursor else None
    except InvalidCursor:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("query", "cursor"),
                    "msg": "malformed cursor",
                    "input": cursor,
                }
            ]
        ) from None
