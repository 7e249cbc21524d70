"""What the webhook routes do (in the caller's transaction; the route commits)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ..infra.rows import locked_one
from .outbox import NOTIFY_CHANNEL
from .schemas import AttemptPublic, DeliveryPublic, EndpointPublic
from .secrets import new_secret
from .tables import (
    DISABLED,
    FAILED,
    PENDING,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)


async def deliveries_of(session: AsyncSession, job_id: uuid.UUID) -> list[DeliveryPublic]:
    rows = list(
        (
            await session.execute(
                sa.select(WebhookDelivery)
                .where(WebhookDelivery.job_id == job_id)
                .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
            )
        ).scalars()
    )
    attempts: dict[uuid.UUID, list[AttemptPublic]] = {r.id: [] for r in rows}  # type: ignore[misc]
    if rows:
        for a in (
            await session.execute(
                sa.select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id.in_(list(attempts)))  # type: ignore[attr-defined]
                .order_by(WebhookAttempt.delivery_id, WebhookAttempt.attempt)
            )
        ).scalars():
            attempts[a.delivery_id].append(AttemptPublic.model_validate(a, from_attributes=True))
    return [
        DeliveryPublic(
            id=r.id,  # type: ignore[arg-type]
            webhook_id=r.webhook_id,
            event=r.event,  # type: ignore[arg-type]
            url=r.url,
            endpoint_id=r.endpoint_id,
            status=r.status,
            attempts=r.attempts,
            response_code=r.last_status_code,
            duration_ms=r.last_duration_ms,
            error=r.last_error,
            next_retry_at=r.next_attempt_at if r.status == PENDING else None,
            created_at=r.created_at,  # type: ignore[arg-type]
            finished_at=r.finished_at,
            history=attempts[r.id],  # type: ignore[index]
        )
        for r in rows
    ]


async def redeliver(
    session: AsyncSession, job_id: uuid.UUID, ids: list[uuid.UUID] | None
) -> list[uuid.UUID]:
    """Put finished deliveries back in the outbox, due now, with a fresh retry horizon (same
    ``webhook-id``). Default: every failed or disabled delivery of the job."""
    where = [WebhookDelivery.job_id == job_id]
    if ids is None:
        where.append(WebhookDelivery.status.in_([FAILED, DISABLED]))  # type: ignore[attr-defined]
    else:
        where += [WebhookDelivery.id.in_(ids), WebhookDelivery.status != PENDING]  # type: ignore[union-attr]
    again = list(
        (
            await session.execute(
                sa.update(WebhookDelivery)
                .where(*where)
                .values(
                    status=PENDING,
                    next_attempt_at=sa.func.now(),
                    retry_from=sa.func.now(),
                    finished_at=None,
                )
                .returning(WebhookDelivery.id)
            )
        ).scalars()
    )
    if again:
        await session.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, "")))
    return again


def endpoint_public(e: WebhookEndpoint) -> EndpointPublic:
    return EndpointPublic.model_validate(e, from_attributes=True)


async def create_endpoint(
    session: AsyncSession, user_id: str, url: str, events: list[str]
) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(user_id=user_id, url=url, events=events, secret=new_secret())
    session.add(endpoint)
    await session.flush()
    await session.refresh(endpoint)
    return endpoint


async def endpoints_of(session: AsyncSession, user_id: str) -> list[WebhookEndpoint]:
    return list(
        (
            await session.execute(
                sa.select(WebhookEndpoint)
                .where(WebhookEndpoint.user_id == user_id, WebhookEndpoint.deleted_at.is_(None))  # type: ignore[union-attr]
                .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
            )
        ).scalars()
    )


async def owned_endpoint(
    session: AsyncSession, user_id: str, endpoint_id: uuid.UUID
) -> WebhookEndpoint | None:
    """The caller's live endpoint, locked; None for a missing, deleted or another's one."""
    return await locked_one(
        session,
        WebhookEndpoint,
        WebhookEndpoint.id == endpoint_id,
        WebhookEndpoint.user_id == user_id,
        WebhookEndpoint.deleted_at.is_(None),  # type: ignore[union-attr]
    )


def rotate(endpoint: WebhookEndpoint, grace_s: float) -> str:
    """A new secret; the current one keeps signing for ``grace_s`` (caller commits)."""
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = datetime.now(UTC) + timedelta(seconds=grace_s)
    endpoint.secret = new_secret()
    return endpoint.secret
