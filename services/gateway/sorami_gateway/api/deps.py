"""FastAPI dependencies: ``SessionDep``, ``CurrentUser``, the correlation id, and the app's
shared objects (built in the lifespan, kept on ``app.state``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sorami_shared.events import Kind
from sorami_shared.storage import Storage
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth import Authenticator, AuthError
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
        raise AuthError("missing bearer token")
    return await context.authenticator.user_id(credentials.credentials)


CurrentUser = Annotated[str, Depends(get_current_user)]


def get_correlation_id(request: Request) -> str:
    value = getattr(request.state, "correlation_id", None)
    return value or str(uuid.uuid4())


CorrelationId = Annotated[str, Depends(get_correlation_id)]
