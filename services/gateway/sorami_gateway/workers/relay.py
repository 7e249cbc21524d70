"""``OutboxRelay``: the loop around :func:`sorami_gateway.outbox.relay.publish_batch`, woken
by ``NOTIFY`` at commit of each new outbox row, with a poll as fallback; backs off while the
broker or the database is down (see :mod:`sorami_gateway.outbox.relay` for the guarantees)."""

from __future__ import annotations

import asyncio

import asyncpg
import sqlalchemy as sa
from sorami_shared.messaging import EventBus

from ..infra.db import SessionFactory
from ..outbox.relay import BatchResult, publish_batch
from ..outbox.writer import NOTIFY_CHANNEL
from ..settings import GatewaySettings
from .loop import Pass, Worker, until_stopped

DATABASE_DOWN = (OSError, sa.exc.DBAPIError, asyncpg.PostgresError)


class OutboxRelay(Worker):
    name = "outbox relay"
    unavailable = "outbox database unavailable"
    transient = DATABASE_DOWN
    listen_to = (
        NOTIFY_CHANNEL,
        "outbox LISTEN connection failed; polling",
        "outbox LISTEN connection lost",
    )

    def __init__(
        self,
        settings: GatewaySettings,
        sessions: SessionFactory,
        bus: EventBus,
        *,
        stop: asyncio.Event | None = None,
    ) -> None:
        super().__init__(settings, sessions, stop=stop)
        self.bus = bus

    def poll_s(self) -> float:
        return self.settings.relay_poll_interval_s

    def max_backoff_s(self) -> float:
        return self.settings.relay_max_backoff_s

    async def before(self) -> bool:
        return await until_stopped(self.bus.connect(retry_for=float("inf")), self.stop)

    async def publish_batch(self) -> BatchResult:
        return await publish_batch(self.engine, self.bus, self.settings)

    async def step(self) -> Pass:
        result = await self.publish_batch()
        if result.failed:
            return Pass.FAILED
        if result.claimed >= self.settings.relay_batch_size:
            return Pass.MORE  # probably more waiting
        return Pass.IDLE
