"""Which secrets sign a delivery: the user's default secret for a per-request webhook; the
endpoint's secret (and, during a rotation's grace period, its previous one) for an endpoint."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from .models import WebhookDelivery, WebhookEndpoint
from .secrets import default_secret


async def keys_for(session: AsyncSession, delivery: WebhookDelivery) -> list[str] | None:
    """None: the delivery's endpoint was deleted or disabled (nothing is sent)."""
    if delivery.endpoint_id is None:
        return [await default_secret(session, delivery.user_id)]
    endpoint = (
        await session.execute(
            sa.select(WebhookEndpoint).where(WebhookEndpoint.id == delivery.endpoint_id)
        )
    ).scalar_one_or_none()
    if endpoint is None or endpoint.deleted_at is not None or endpoint.disabled_at is not None:
        return None
    keys = [endpoint.secret]
    until = endpoint.previous_secret_until
    if endpoint.previous_secret and until is not None and until > datetime.now(UTC):
        keys.append(endpoint.previous_secret)
    return keys
