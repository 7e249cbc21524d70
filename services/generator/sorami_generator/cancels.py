"""Cancel signals heard by this replica (``generation.cancel_requested``, read by every
generator replica from the ``generator.cancels`` stream, see ``EventBus.subscribe``).

- A job running here is stopped at its next denoising step (its :class:`Aborter` is told).
- Every signal is remembered for ``cancel_memory_s`` (bounded to ``cancel_memory_max``
  entries), so a job cancelled while still queued is skipped when this replica picks it up:
  it never runs. A replica that starts after the signal replays the stream from
  ``cancel_memory_s`` back before it takes work, so it knows too. (Should a job still slip
  through, e.g. a cancel older than the stream's retention, the gateway's projection ignores
  what that job reports and deletes the files it wrote.)
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from typing import Any

from sorami_shared.events import Envelope, GenerationCancelRequested
from sorami_shared.logging import get_logger, job_context

from .runner import Aborter

log = get_logger(__name__)


class CancelRegistry:
    def __init__(self, *, memory_s: float = 3600.0, max_entries: int = 10_000) -> None:
        self.memory_s = memory_s
        self.max_entries = max_entries
        self._signals: OrderedDict[uuid.UUID, float] = OrderedDict()  # job → wall time heard
        self._running: dict[uuid.UUID, Aborter] = {}

    async def on_event(self, envelope: Envelope[Any]) -> None:
        """The broadcast handler."""
        data = envelope.data
        if isinstance(data, GenerationCancelRequested):
            with job_context(job_id=data.job_id, correlation_id=envelope.correlationid):
                self.cancel(data.job_id)

    def cancel(self, job_id: uuid.UUID) -> None:
        now = time.time()
        self._signals.setdefault(job_id, now)
        self._signals.move_to_end(job_id)
        self._forget_old(now)
        aborter = self._running.get(job_id)
        if aborter is not None:
            aborter.cancel()
            log.info("cancel signal: stopping the running job at its next step")
        else:
            log.info("cancel signal remembered (job not running here)")

    def signalled_at(self, job_id: uuid.UUID) -> float | None:
        """Wall time this replica heard the job's cancel, if it did (within memory)."""
        self._forget_old(time.time())
        return self._signals.get(job_id)

    def track(self, job_id: uuid.UUID, aborter: Aborter) -> None:
        self._running[job_id] = aborter
        if self.signalled_at(job_id) is not None:
            aborter.cancel()

    def untrack(self, job_id: uuid.UUID) -> None:
        self._running.pop(job_id, None)

    def _forget_old(self, now: float) -> None:
        while self._signals and (
            len(self._signals) > self.max_entries
            or next(iter(self._signals.values())) < now - self.memory_s
        ):
            self._signals.popitem(last=False)
