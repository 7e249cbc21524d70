"""A job's webhook deliveries: ``GET /api/{kind}/{job_id}/webhooks`` and ``POST
.../webhooks/redeliver`` (the deliveries themselves are the webhooks feature's).

Another user's job answers 404, exactly like a missing one."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body, HTTPException, status

from ..rest.deps import CurrentUser, SessionDep
from ..rest.errors import UNAUTHENTICATED
from ..webhooks import service as webhooks
from ..webhooks.schemas import DeliveryList, Redeliver, Redelivered
from . import service
from .schemas import KindPath

NOT_FOUND = {404: {"description": "No such generation for this user"}}
NOT_JSON = {400: {"description": "The body is not JSON"}}

router = APIRouter(prefix="/api", tags=["webhooks"], responses=UNAUTHENTICATED)


@router.get("/{kind}/{job_id}/webhooks", response_model=DeliveryList, responses=NOT_FOUND)
async def job_webhooks(
    kind: KindPath, job_id: uuid.UUID, user_id: CurrentUser, session: SessionDep
) -> DeliveryList:
    """Every webhook delivery of the job: status, last response code and duration, next
    retry, and each attempt."""
    await _job(session, user_id, kind, job_id)
    return DeliveryList(job_id=job_id, items=await webhooks.deliveries_of(session, job_id))


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
    again = await webhooks.redeliver(session, job_id, body.delivery_ids if body else None)
    await session.commit()
    return Redelivered(job_id=job_id, redelivered=again)


async def _job(session: SessionDep, user_id: str, kind: KindPath, job_id: uuid.UUID) -> None:
    found = await service.get_generation(session, user_id=user_id, kind=kind.kind, job_id=job_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "generation not found")
