"""The outbox relay: publishes unpublished outbox rows, oldest first, then marks them.

- Several relays may run at once: a batch is claimed with ``FOR UPDATE SKIP LOCKED``, so two
  relays never hold the same row; the row lock lasts one short transaction (publishes have a
  timeout of a few seconds) and is never held across a back-off wait.
- A crash between publish and mark re-publishes the row later (consumers dedupe on the event
  id); a row is marked only after the broker confirmed it, so none is ever lost.
- Broker down: publishes fail, the batch commits what went out and records ``attempts`` /
  ``last_error`` on the row that failed, the relay backs off and retries; the robust
  connection reconnects by itself, so no restart is needed.
- Woken by ``LISTEN``/``NOTIFY`` at commit of each new row, with a poll as fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass

import asyncpg
import sqlalchemy as sa
from sorami_shared.events import UnparseableEvent, parse_event
from sorami_shared.logging import get_logger, job_context
from sorami_shared.messaging import EventBus, PublishFailed
from sqlalchemy.ext.asyncio import AsyncSession

from .db import SessionFactory
from .models import OutboxMessage
from .outbox import NOTIFY_CHANNEL
from .settings import GatewaySettings
from .wakeups import listening, wait_for_wake, wait_set

log = get_logger(__name__)


@dataclass(frozen=True)
class BatchResult:
    claimed: int
    published: int
    failed: bool


class OutboxRelay:
    def __init__(
        self,
        settings: GatewaySettings,
        sessions: SessionFactory,
        bus: EventBus,
        *,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.bus = bus
        self.stop = stop or asyncio.Event()
        self._wake = asyncio.Event()

    async def publish_batch(self) -> BatchResult:
        """Claim up to ``relay_batch_size`` rows, publish them in order, mark what the broker
        confirmed; one transaction."""
        published: list[int] = []
        failure: tuple[int, str] | None = None
        async with self.sessions() as session, session.begin():
            rows = (
                await session.execute(
                    sa.select(OutboxMessage.id, OutboxMessage.payload)
                    .where(OutboxMessage.published_at.is_(None))  # type: ignore[union-attr]
                    .order_by(OutboxMessage.id)
                    .limit(self.settings.relay_batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row_id, payload in rows:
                try:
                    envelope = parse_event(json.dumps(payload))
                except UnparseableEvent as exc:
                    # Written by us, so this is a bug: keep the row, say why, go on.
                    log.error("outbox row cannot be parsed", outbox_id=row_id, error=str(exc))
                    await self._record_error(session, row_id, str(exc))
                    continue
                try:
                    await self.bus.publish(envelope, timeout=self.settings.relay_publish_timeout_s)
                except PublishFailed as exc:
                    failure = (row_id, str(exc))
                    break
                with job_context(job_id=envelope.job_id, correlation_id=envelope.correlationid):
                    log.info("event published", event_type=envelope.type, event_id=str(envelope.id))
                published.append(row_id)
            if published:
                await session.execute(
                    sa.update(OutboxMessage)
                    .where(OutboxMessage.id.in_(published))  # type: ignore[union-attr]
                    .values(
                        published_at=sa.func.now(),
                        attempts=OutboxMessage.attempts + 1,
                        last_error=None,
                    )
                )
            if failure is not None:
                await self._record_error(session, *failure)
        if failure is not None:
            log.warning("publish failed; will retry", outbox_id=failure[0], error=failure[1])
        return BatchResult(claimed=len(rows), published=len(published), failed=failure is not None)

    @staticmethod
    async def _record_error(session: AsyncSession, row_id: int, error: str) -> None:
        await session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == row_id)
            .values(attempts=OutboxMessage.attempts + 1, last_error=error[:2000])
        )

    async def run(self) -> None:
        """Until ``stop`` is set."""
        # A LISTEN connection; on every (re)connect it wakes the loop once to catch up.
        wakeups = listening(
            self.settings.database_url,
            NOTIFY_CHANNEL,
            wake=self._wake,
            stop=self.stop,
            log=log,
            failed="outbox LISTEN connection failed; polling",
            lost="outbox LISTEN connection lost",
            name="outbox-listen",
        )
        try:
            async with wakeups:
                if not await self._connect():
                    return
                log.info("outbox relay running")
                backoff = 0.0
                while not self.stop.is_set():
                    self._wake.clear()  # before the query: a NOTIFY during it is not lost
                    try:
                        result = await self.publish_batch()
                    except (OSError, sa.exc.DBAPIError, asyncpg.PostgresError) as exc:
                        log.warning("outbox database unavailable", error=repr(exc))
                        result = BatchResult(0, 0, failed=True)
                    if result.failed:
                        backoff = min(self.settings.relay_max_backoff_s, max(0.2, backoff * 2))
                        await wait_set(self.stop, backoff)
                        continue
                    backoff = 0.0
                    if result.claimed >= self.settings.relay_batch_size:
                        continue  # probably more waiting
                    await wait_for_wake(self._wake, self.stop, self.settings.relay_poll_interval_s)
        finally:
            log.info("outbox relay stopped")

    async def _connect(self) -> bool:
        connect = asyncio.create_task(self.bus.connect(retry_for=float("inf")))
        stopping = asyncio.create_task(self.stop.wait())
        await asyncio.wait({connect, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not connect.done():
            connect.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await connect
            return False
        connect.result()
        return True
