"""FastAPI dependencies: ``SessionDep``, ``CurrentUser``, the correlation id, the page cursor,
and :class:`Component`, one object the composition root (:mod:`sorami_gateway.app`) builds at
start. A route names exactly the components it uses; nothing reaches into a grab-bag."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ..infra.auth import MISSING_TOKEN, Authenticator, AuthError
from ..infra.cursor import Cursor, InvalidCursor
from ..infra.db import SessionFactory
from ..settings import GatewaySettings

T = TypeVar("T")


class Component(Generic[T]):
    """A dependency provided by the composition root: ``component.provide(app, value)`` at
    start; ``Annotated[T, Depends(component)]`` in a route."""

    def __init__(self, name: str) -> None:
        self.name = name

    def provide(self, app: FastAPI, value: T) -> None:
        setattr(app.state, self.name, value)

    async def __call__(self, request: Request) -> T:
        # async: no I/O, so no threadpool hop (FastAPI runs a sync dependency in a thread)
        return getattr(request.app.state, self.name)  # type: ignore[no-any-return]


settings_component: Component[GatewaySettings] = Component("settings")
sessions_component: Component[SessionFactory] = Component("sessions")
engine_component: Component[AsyncEngine] = Component("engine")
authenticator_component: Component[Authenticator] = Component("authenticator")

SettingsDep = Annotated[GatewaySettings, Depends(settings_component)]
Sessions = Annotated[SessionFactory, Depends(sessions_component)]
# The pool itself, for the hot paths' one-statement reads and writes (infra.db.driver_connection)
EngineDep = Annotated[AsyncEngine, Depends(engine_component)]


async def get_session(sessions: Sessions) -> AsyncIterator[AsyncSession]:
    # Closing without commit rolls back: only a route that commits changes anything.
    async with sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False, description="JWT; the user id is its `sub` claim")


async def get_current_user(
    authenticator: Annotated[Authenticator, Depends(authenticator_component)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthError("missing bearer token", MISSING_TOKEN)
    return await authenticator.user_id(credentials.credentials)


CurrentUser = Annotated[str, Depends(get_current_user)]


async def get_correlation_id(request: Request) -> str:
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
