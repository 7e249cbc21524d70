"""``/readyz``: the database answers and the broker accepts a connection (any node of a
cluster). The broker check opens a connection, so its result is cached a few seconds (a load
balancer probing every second must not become an AMQP connection storm)."""

from __future__ import annotations

import asyncio
import time

import sqlalchemy as sa
from sorami_shared.logging import get_logger
from sorami_shared.messaging.connection import probe
from sqlalchemy.ext.asyncio import AsyncEngine

log = get_logger(__name__)


class Readiness:
    def __init__(self, engine: AsyncEngine, amqp_url: str, *, broker_cache_s: float) -> None:
        self.engine = engine
        self.amqp_url = amqp_url
        self.broker_cache_s = broker_cache_s
        self._broker_ok: bool | None = None
        self._broker_checked_at = 0.0
        self._lock = asyncio.Lock()

    async def database(self) -> bool:
        try:
            async with asyncio.timeout(3):
                async with self.engine.connect() as conn:
                    await conn.execute(sa.text("SELECT 1"))
            return True
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            log.warning("readiness: database unreachable", error=repr(exc))
            return False

    async def broker(self) -> bool:
        if self._fresh():
            return bool(self._broker_ok)
        async with self._lock:
            if self._fresh():
                return bool(self._broker_ok)
            try:
                await probe(self.amqp_url, timeout=3)
                ok = True
            except Exception as exc:  # noqa: BLE001
                log.warning("readiness: broker unreachable", error=repr(exc))
                ok = False
            self._broker_ok, self._broker_checked_at = ok, time.monotonic()
            return ok

    def _fresh(self) -> bool:
        return (
            self._broker_ok is not None
            and time.monotonic() - self._broker_checked_at < self.broker_cache_s
        )
