"""The gateway's janitor (runs inside ``sorami-gateway relay``): drains storage deletions
(:mod:`sorami_gateway.media.drain`), removes expired uploads
(:mod:`sorami_gateway.uploads.expiry`) and expired results' files
(:mod:`sorami_gateway.generations.lifetimes`), and keeps the event log, tombstones, published
outbox rows, dedupe records and finished webhook deliveries within their windows. Woken by
``NOTIFY`` when a deletion is scheduled, with a poll as fallback; database errors are logged
and retried."""

from __future__ import annotations

import asyncio

from sorami_shared.logging import get_logger
from sorami_shared.storage import Storage

from ..events import log as user_events
from ..generations.lifetimes import expire_results
from ..infra.db import SessionFactory
from ..media.deletions import NOTIFY_CHANNEL
from ..media.drain import DeletionDrain, purge_tombstones
from ..outbox.retention import purge_processed, purge_published
from ..settings import GatewaySettings
from ..uploads.expiry import remove_expired
from ..webhooks.outbox import purge_finished
from .loop import Pass, Worker
from .relay import DATABASE_DOWN

log = get_logger(__name__)


class Janitor(Worker):
    name = "janitor"
    unavailable = "janitor: database unavailable"
    transient = DATABASE_DOWN
    listen_to = (NOTIFY_CHANNEL, "janitor LISTEN failed; polling", "janitor LISTEN connection lost")

    def __init__(
        self,
        settings: GatewaySettings,
        sessions: SessionFactory,
        storage: Storage,
        *,
        stop: asyncio.Event | None = None,
    ) -> None:
        super().__init__(settings, sessions, stop=stop)
        self.drain = DeletionDrain(settings, sessions, storage)
        self.storage = storage
        self._next_purge = 0.0

    async def delete_due(self) -> int:
        """One pass over due deletions; returns how many orders completed."""
        return await self.drain.delete_due()

    async def purge(self) -> None:
        """Events beyond the SSE window; tombstones of long-done deletions; outbox rows
        published long ago and old dedupe records (never an unpublished outbox row); webhook
        deliveries finished long ago (never a pending one)."""
        s = self.settings
        async with self.sessions() as session, session.begin():
            events = await user_events.purge(session, s.events_retention_s)
            tombstones = await purge_tombstones(session, s.deletion_tombstone_retention_s)
            outbox = await purge_published(session, s.outbox_retention_s)
            processed = await purge_processed(session, s.processed_events_retention_s)
            webhooks = await purge_finished(session, s.webhooks.retention_s)
        if events or tombstones or outbox or processed or webhooks:
            log.info(
                "janitor purged",
                events=events,
                tombstones=tombstones,
                outbox=outbox,
                processed_events=processed,
                webhook_deliveries=webhooks,
            )

    def poll_s(self) -> float:
        return self.settings.deletion_poll_interval_s

    async def step(self) -> Pass:
        while await self.delete_due() > 0:
            pass
        batch = self.settings.uploads.janitor_batch
        while await remove_expired(self.sessions, self.storage, batch=batch) == batch:
            pass
        while await expire_results(self.sessions, batch=batch) == batch:
            pass
        while await self.delete_due() > 0:  # the expired results' files
            pass
        now = asyncio.get_running_loop().time()
        if now >= self._next_purge:
            await self.purge()
            self._next_purge = asyncio.get_running_loop().time() + self.settings.janitor_interval_s
        return Pass.IDLE
