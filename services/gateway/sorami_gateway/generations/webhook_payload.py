"""The body of a webhook: Standard Webhooks' ``{type, timestamp, data}``, ``data`` being the
job's public result shape (``GET /api/{kind}/{id}/result``) with file URLs signed at the time
of the attempt (so a retry hours later still carries URLs that work), and the status,
progress and error the job had when the event happened."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ..media.urls import MediaUrls
from ..webhooks.outbox import batch_body
from ..webhooks.tables import WebhookDelivery
from ..webhooks.urls import WebhookEvent
from . import service as generations
from .tables import Generation

_AT_EVENT = ("status", "progress", "error", "error_code")


async def build(
    session: AsyncSession, delivery: WebhookDelivery, urls: MediaUrls
) -> dict[str, Any]:
    if delivery.event == WebhookEvent.batch_completed:
        return batch_body(delivery)
    snapshot = delivery.snapshot
    generation = (
        await session.execute(sa.select(Generation).where(Generation.id == delivery.job_id))
    ).scalar_one_or_none()
    if generation is None:  # deleted by its user since: what the event said, no files
        data: dict[str, Any] = {k: snapshot.get(k) for k in ("job_id", "kind", *_AT_EVENT)}
        data["files"] = []
    else:
        files = await generations.files_of(session, [delivery.job_id])
        result = await generations.result_of(generation, files.get(delivery.job_id, []), urls)
        data = result.model_dump(mode="json")
        data.update({k: snapshot[k] for k in _AT_EVENT if k in snapshot})
    for extra in ("step", "total_steps"):
        if extra in snapshot:
            data[extra] = snapshot[extra]
    occurred: datetime = delivery.created_at  # type: ignore[assignment]
    return {
        "type": f"generation.{delivery.event}",
        "timestamp": occurred.isoformat(),
        "data": data,
    }
