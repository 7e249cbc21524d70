"""A generation's events in the user's log (``GET /api/events``): the ``/status`` shape plus
extras, appended in the transaction of the change they report."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..events import log as user_events
from ..webhooks import outbox as webhook_outbox
from .tables import Generation


def status_data(
    job_id: uuid.UUID | None,
    kind: str,
    status: str,
    progress: int,
    error: str | None = None,
    error_code: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The common shape of a generation event (what ``/status`` answers, plus extras)."""
    return {
        "job_id": str(job_id),
        "kind": kind,
        "status": status,
        "progress": progress,
        "error": error,
        "error_code": error_code,
        **extra,
    }


def generation_data(generation: Generation, **extra: Any) -> dict[str, Any]:
    g = generation
    return status_data(g.id, g.kind, g.status, g.progress, g.error, g.error_code, **extra)


async def append_generation(
    session: AsyncSession, generation: Generation, type: str, **extra: Any
) -> None:
    data = generation_data(generation, **extra)
    # the webhook deliveries this event calls for, in the same transaction (issue 15)
    await webhook_outbox.on_generation_event(session, generation, type, data)
    await user_events.append(
        session, user_id=generation.user_id, type=type, job_id=generation.id, data=data
    )
