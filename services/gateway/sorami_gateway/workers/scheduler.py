"""``Scheduler``: the loop around :func:`sorami_gateway.scheduling.release.release_pass`. It
runs in every ``sorami-gateway relay`` process (beside the outbox relay it feeds), woken by the
``NOTIFY`` on ``SCHEDULER_CHANNEL`` that every create and every logged event that may free a
slot sends (a new job, a finished one: both may change what can go; progress does not), with a
poll as fallback.

A create's NOTIFY names its model (migration 0014); one that may free a slot carries nothing.
A wake-up that brought only creates of models the last pass left with no free slot at all
(``PassResult.full``) skips the release pass: none of them can go before a slot frees, and
that NOTIFYs. Under a backlog this spares a pass per create. Anything else runs it: an event
that may free a slot, a create of another model, the listener's (re)connect, the poll and a
pass older than the poll interval (they see a generator that came or went), a failed pass, a
pass another replica held."""

from __future__ import annotations

import asyncio
import time

from sorami_shared.logging import get_logger

from ..batches.completion import complete_batches
from ..events.log import SCHEDULER_CHANNEL
from ..infra.db import SessionFactory, driver_connection
from ..scheduling.capacity import BrokerCapacity
from ..scheduling.metrics import record_backlog
from ..scheduling.positions import update_positions
from ..scheduling.release import release_pass
from ..settings import GatewaySettings
from .loop import Pass, Worker
from .relay import DATABASE_DOWN

log = get_logger(__name__)


class Scheduler(Worker):
    name = "scheduler"
    unavailable = "scheduler database unavailable"
    transient = DATABASE_DOWN
    listen_to = (
        SCHEDULER_CHANNEL,
        "scheduler LISTEN connection failed; polling",
        "scheduler LISTEN connection lost",
    )

    def __init__(
        self,
        settings: GatewaySettings,
        sessions: SessionFactory,
        *,
        stop: asyncio.Event | None = None,
    ) -> None:
        super().__init__(settings, sessions, stop=stop)
        self.capacity = BrokerCapacity(
            settings.amqp_url,
            slots_per_consumer=settings.scheduler_slots_per_consumer,
            refresh_s=settings.scheduler_capacity_refresh_s,
            interactive_reserve=settings.scheduler_interactive_reserve,
        )
        self._positioned = -1e9  # when positions were last recomputed (monotonic)
        # since the last pass: the models creates named, and whether anything else woke it
        self._created: set[str] = set()
        self._other = True
        self._full: frozenset[str] = frozenset()  # the last pass's (see the module doc)
        self._passed = -1e9  # when the last pass started (monotonic)
        # the models without a worker the last write of waiting_for saw, and when it ran
        self._no_worker: frozenset[str] = frozenset()
        self._marked = -1e9

    def heard(self, payload: str | None) -> None:
        if payload:  # a create, naming its model
            self._created.add(payload)
        else:  # a slot may be free (''), or the listener (re)connected (None)
            self._other = True

    def _must_pass(self) -> bool:
        """Whether this wake-up calls for a release pass (the module doc); resets what was
        heard."""
        created, other = self._created, self._other
        self._created, self._other = set(), False
        due = time.monotonic() - self._passed >= self.poll_s()  # creates never starve the poll
        return other or due or not created or not created <= self._full

    def poll_s(self) -> float:
        return self.settings.scheduler_poll_interval_s

    def _mark_waiting(self, no_worker: frozenset[str]) -> bool:
        """Whether this pass writes ``waiting_for`` (an UPDATE that scans the queue): when a
        model lacks a worker, when that set changed, and at least once a poll interval (a
        mark another replica left is cleared within it)."""
        now = time.monotonic()
        if no_worker or no_worker != self._no_worker or now - self._marked >= self.poll_s():
            self._no_worker, self._marked = no_worker, now
            return True
        return False

    async def step(self) -> Pass:
        if self._must_pass():
            try:
                await self._release()
            except BaseException:
                self._other = True  # what woke this pass still needs one
                self._marked = -1e9  # its waiting_for write, if any, was rolled back
                raise
        if time.monotonic() - self._positioned >= self.settings.scheduler_position_interval_s:
            self._positioned = time.monotonic()
            async with driver_connection(self.engine) as conn, conn.transaction():
                told = await update_positions(
                    conn, now=time.time(), policy=self.settings.scheduler_policy
                )
            if told:
                log.info("queue positions told", events=len(told))
        # No second pass right away: this one filled every free slot it could, and a slot
        # freed or a job created while it ran NOTIFYed (the wake-up was cleared before it).
        return Pass.IDLE

    async def _release(self) -> None:
        self._passed = time.monotonic()
        async with driver_connection(self.engine) as conn, conn.transaction():
            result = await release_pass(
                conn,
                self.capacity.slots,
                now=time.time(),
                policy=self.settings.scheduler_policy,
                reserved_slots=self.capacity.reserved,
                mark_waiting=self._mark_waiting,
            )
            completed = await complete_batches(conn)
        self._full = result.full  # empty when another replica held the pass: never skip then
        if result.ran:
            record_backlog(sorted(self.settings.registry), result.by_model)
        if result.released:
            log.info("jobs released", released=len(result.released), queued=result.queued)
        if completed:
            log.info("batches completed", batches=[str(b) for b in completed])

    async def idle_s(self) -> float:
        # come back for the positions even without a wake-up, while jobs wait
        return min(self.poll_s(), self.settings.scheduler_position_interval_s)

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            await self.capacity.close()
