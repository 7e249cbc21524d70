"""The watchdog's loop: :func:`sorami_gateway.generations.stalled.sweep` every
``watchdog_interval_s`` until stopped; a failed sweep (database down) is retried next time."""

from __future__ import annotations

import asyncio

from sorami_shared.logging import get_logger

from ..generations.stalled import sweep
from ..infra.db import SessionFactory
from ..settings import GatewaySettings
from .loop import Loop, Pass

log = get_logger(__name__)


class Watchdog:
    def __init__(
        self,
        settings: GatewaySettings,
        sessions: SessionFactory,
        *,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.stop = stop or asyncio.Event()

    async def _pass(self) -> Pass:
        result = await sweep(self.sessions, self.settings)
        if result.requeued or result.failed:
            log.info("watchdog sweep", requeued=len(result.requeued), failed=len(result.failed))
        return Pass.IDLE

    async def run(self) -> None:
        s = self.settings
        await Loop(
            name="watchdog",
            stop=self.stop,
            poll_s=s.watchdog_interval_s,
            log=log,
            unavailable="watchdog sweep failed; will retry",
            transient=(Exception,),
            running={
                "interval_s": s.watchdog_interval_s,
                "processing_lease_s": s.watchdog_processing_lease_s,
                "pending_lease_s": s.watchdog_pending_lease_s,
                "max_requeues": s.watchdog_max_requeues,
            },
        ).run(self._pass)
