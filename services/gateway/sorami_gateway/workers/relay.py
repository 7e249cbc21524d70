"""``OutboxRelay``: the loop around :func:`sorami_gateway.outbox.relay.publish_batch`, woken
by ``NOTIFY`` at commit of each new outbox row, with a poll as fallback; backs off while the
broker or the database is down (see :mod:`sorami_gateway.outbox.relay` for the guarantees)."""

from __future__ import annotations

import asyncio

import asyncpg
import sqlalchemy as sa
from sorami_shared.logging import get_logger
from sorami_shared.messaging import EventBus

from ..infra.db import SessionFactory
from ..outbox.relay import BatchResult, publish_batch
from ..outbox.writer import NOTIFY_CHANNEL
from ..settings import GatewaySettings
from .loop import Listen, Loop, Pass, until_stopped

log = get_logger(__name__)

DATABASE_DOWN = (OSError, sa.exc.DBAPIError, asyncpg.PostgresError)


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

    async def publish_batch(self) -> BatchResult:
        return await publish_batch(self.sessions, self.bus, self.settings)

    async def _pass(self) -> Pass:
        result = await self.publish_batch()
        if result.failed:
            return Pass.FAILED
        if result.claimed >= self.settings.relay_batch_size:
            return Pass.MORE  # probably more waiting
        return Pass.IDLE

    async def run(self) -> None:
        """Until ``stop`` is set."""
        s = self.settings
        loop = Loop(
            name="outbox relay",
            stop=self.stop,
            poll_s=s.relay_poll_interval_s,
            log=log,
            unavailable="outbox database unavailable",
            transient=DATABASE_DOWN,
            listen=Listen(
                s.database_url,
                NOTIFY_CHANNEL,
                failed="outbox LISTEN connection failed; polling",
                lost="outbox LISTEN connection lost",
            ),
            max_backoff_s=s.relay_max_backoff_s,
        )
        await loop.run(self._pass, before=self._connect)

    async def _connect(self) -> bool:
        return await until_stopped(self.bus.connect(retry_for=float("inf")), self.stop)
