"""Webhook routes: the default signing secret, standing endpoints, and a job's deliveries.

Another user's job or endpoint answers 404, exactly like a missing one."""

# no ``from __future__ import annotations``: the endpoint body model is built per app, and
# FastAPI must see it as a class, not a name.
import uuid
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Body, HTTPException, Response, status
from pydantic import BaseModel, ConfigDict, create_model

from ..api.deps import Context, CurrentUser, SessionDep
from ..api.errors import UNAUTHENTICATED
from ..schemas import KindPath
from ..services import generations
from ..settings import GatewaySettings
from . import service
from .schemas import (
    DeliveryList,
    EndpointCreated,
    EndpointList,
    EndpointRotated,
    Redeliver,
    Redelivered,
    SigningSecret,
)
from .secrets import default_secret
from .urls import DEFAULT_EVENTS, EventsType, url_type

NOT_FOUND = {404: {"description": "No such generation (or endpoint) for this user"}}
NOT_JSON = {400: {"description": "The body is not JSON"}}


class _EndpointBase(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _endpoint_model(settings: GatewaySettings) -> Any:
    w = settings.webhooks
    return create_model(
        "WebhookEndpointCreate",
        __base__=_EndpointBase,
        url=(url_type(w, settings.environment), ...),
        events=(EventsType, None),
    )


def router_for(settings: GatewaySettings) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["webhooks"], responses=UNAUTHENTICATED)
    EndpointCreate = _endpoint_model(settings)  # noqa: N806 - a model class

    @router.get("/webhooks/secret", response_model=SigningSecret)
    async def signing_secret(user_id: CurrentUser, session: SessionDep) -> SigningSecret:
        """The caller's default signing secret (per-request `webhook_url`s are signed with
        it), created on first use. Verify with any Standard Webhooks library."""
        secret = await default_secret(session, user_id)
        await session.commit()
        return SigningSecret(secret=secret)

    @router.post(
        "/webhooks/endpoints",
        status_code=status.HTTP_201_CREATED,
        response_model=EndpointCreated,
        responses=NOT_JSON,
    )
    async def create_endpoint(
        body: EndpointCreate,
        user_id: CurrentUser,
        session: SessionDep,  # type: ignore[valid-type]
    ) -> EndpointCreated:
        """A standing endpoint that receives the chosen events of every job of the caller.
        Its signing `secret` is in this answer only."""
        events = [e.value for e in (body.events or DEFAULT_EVENTS)]  # type: ignore[attr-defined]
        endpoint = await service.create_endpoint(session, user_id, body.url, events)  # type: ignore[attr-defined]
        await session.commit()
        return EndpointCreated(
            **service.endpoint_public(endpoint).model_dump(), secret=endpoint.secret
        )

    @router.get("/webhooks/endpoints", response_model=EndpointList)
    async def list_endpoints(user_id: CurrentUser, session: SessionDep) -> EndpointList:
        items = await service.endpoints_of(session, user_id)
        return EndpointList(items=[service.endpoint_public(e) for e in items])

    @router.delete(
        "/webhooks/endpoints/{endpoint_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        responses=NOT_FOUND,
    )
    async def delete_endpoint(
        endpoint_id: uuid.UUID, user_id: CurrentUser, session: SessionDep
    ) -> Response:
        """Stop delivering to it (pending deliveries end `disabled`)."""
        endpoint = await _endpoint(session, user_id, endpoint_id)
        endpoint.deleted_at = sa.func.now()
        await session.commit()
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post(
        "/webhooks/endpoints/{endpoint_id}/rotate",
        response_model=EndpointRotated,
        responses=NOT_FOUND,
    )
    async def rotate_endpoint_secret(
        endpoint_id: uuid.UUID, user_id: CurrentUser, session: SessionDep, context: Context
    ) -> EndpointRotated:
        """A new signing secret (in this answer only); messages carry a signature with the
        previous one too until `previous_secret_until`."""
        endpoint = await _endpoint(session, user_id, endpoint_id)
        secret = service.rotate(endpoint, context.settings.webhooks.secret_grace_s)
        until = endpoint.previous_secret_until
        await session.commit()
        return EndpointRotated(id=endpoint_id, secret=secret, previous_secret_until=until)  # type: ignore[arg-type]

    @router.get("/{kind}/{job_id}/webhooks", response_model=DeliveryList, responses=NOT_FOUND)
    async def job_webhooks(
        kind: KindPath, job_id: uuid.UUID, user_id: CurrentUser, session: SessionDep
    ) -> DeliveryList:
        """Every webhook delivery of the job: status, last response code and duration, next
        retry, and each attempt."""
        await _job(session, user_id, kind, job_id)
        return DeliveryList(job_id=job_id, items=await service.deliveries_of(session, job_id))

    @router.post(
        "/{kind}/{job_id}/webhooks/redeliver",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=Redelivered,
        responses={**NOT_FOUND, **NOT_JSON},
    )
    async def redeliver(
        kind: KindPath,
        job_id: uuid.UUID,
        user_id: CurrentUser,
        session: SessionDep,
        body: Redeliver | None = Body(default=None),  # noqa: B008
    ) -> Redelivered:
        """Send finished deliveries again (same `webhook-id`, fresh retry horizon): the
        ones named, or every failed or disabled one."""
        await _job(session, user_id, kind, job_id)
        again = await service.redeliver(session, job_id, body.delivery_ids if body else None)
        await session.commit()
        return Redelivered(job_id=job_id, redelivered=again)

    return router


async def _job(session: SessionDep, user_id: str, kind: KindPath, job_id: uuid.UUID) -> None:
    found = await generations.get_generation(
        session, user_id=user_id, kind=kind.kind, job_id=job_id
    )
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "generation not found")


async def _endpoint(session: SessionDep, user_id: str, endpoint_id: uuid.UUID) -> Any:
    endpoint = await service.owned_endpoint(session, user_id, endpoint_id)
    if endpoint is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "webhook endpoint not found")
    return endpoint
