"""The watchdog's loop: :func:`sorami_gateway.generations.stalled.sweep` every
``watchdog_interval_s`` until stopped; a failed sweep (database down) is retried next time."""

from __future__ import annotations

from typing import Any

from sorami_shared.logging import get_logger

from ..generations import metrics
from ..generations.stalled import sweep
from .loop import Pass, Worker

log = get_logger(__name__)


class Watchdog(Worker):
    name = "watchdog"
    unavailable = "watchdog sweep failed; will retry"
    transient = (Exception,)

    def poll_s(self) -> float:
        return self.settings.watchdog_interval_s

    def running(self) -> dict[str, Any]:
        s = self.settings
        return {
            "interval_s": s.watchdog_interval_s,
            "processing_lease_s": s.watchdog_processing_lease_s,
            "pending_lease_s": s.watchdog_pending_lease_s,
            "max_requeues": s.watchdog_max_requeues,
        }

    async def step(self) -> Pass:
        result = await sweep(self.sessions, self.settings)
        metrics.watchdog_swept(len(result.requeued), len(result.failed))
        if result.requeued or result.failed:
            log.info("watchdog sweep", requeued=len(result.requeued), failed=len(result.failed))
        return Pass.IDLE
