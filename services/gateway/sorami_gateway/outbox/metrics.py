"""The outbox's metrics, sampled by the relay and by the watchdog (so that a stopped relay is
still seen); imported by those two only, so that no other gateway process reports a backlog of 0
it never measured."""

from __future__ import annotations

import asyncio
import contextlib

import sqlalchemy as sa
from prometheus_client import Gauge
from sorami_shared.logging import get_logger

from ..infra.db import SessionFactory
from .tables import OutboxMessage

log = get_logger(__name__)

OUTBOX_BACKLOG = Gauge("sorami_outbox_backlog", "Outbox rows not yet published")
OUTBOX_OLDEST_AGE = Gauge(
    "sorami_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row (0: none)"
)
# A create now waits in the scheduler's queue until the relay's scheduler writes its outbox row:
# a stopped relay shows as an interactive job waiting there although a generator could take it
# (not one waiting for a worker: SoramiNoGeneratorConsuming says that).
SCHEDULER_OLDEST_AGE = Gauge(
    "sorami_scheduler_oldest_interactive_age_seconds",
    "Age of the oldest interactive job in the scheduler's queue not waiting for a worker (0: none)",
)
SCHEDULER_OLDEST = sa.text(
    "SELECT extract(epoch FROM now() - min(enqueued_at)) FROM generation_queue"
    " WHERE tier = 'interactive' AND waiting_for IS DISTINCT FROM 'worker'"
)


async def sample_outbox(sessions: SessionFactory, stop: asyncio.Event, interval_s: float) -> None:
    """Until ``stop``: the outbox backlog and its oldest row's age (one indexed query: the
    partial index on unpublished rows), and the scheduler's oldest releasable interactive job,
    every ``interval_s``."""
    query = sa.select(
        sa.func.count(),
        sa.func.extract("epoch", sa.func.now() - sa.func.min(OutboxMessage.created_at)),
    ).where(OutboxMessage.published_at.is_(None))  # type: ignore[union-attr]
    while not stop.is_set():
        try:
            async with sessions() as session:
                backlog, oldest_age = (await session.execute(query)).one()
                queued_age = (await session.execute(SCHEDULER_OLDEST)).scalar()
            OUTBOX_BACKLOG.set(backlog)
            OUTBOX_OLDEST_AGE.set(float(oldest_age or 0.0))
            SCHEDULER_OLDEST_AGE.set(float(queued_age or 0.0))
        except Exception as exc:  # noqa: BLE001 - database down: the relay says so; sample later
            log.warning("outbox sampling failed", error=repr(exc)[:300])
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval_s):
                await stop.wait()
