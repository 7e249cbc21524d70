"""``sorami-gateway webhooks``: the deliverer as its own process.

Its own process, not a task of the relay: it waits on receivers anywhere on the internet
(up to ``timeout_s`` each), which must never delay the relay's publishing; it is the only
gateway process that needs outbound internet access, so a network policy can grant egress to
it alone; and it scales and restarts on its own (several may run: claims skip locked rows)."""

from __future__ import annotations

import asyncio
from functools import partial

from sorami_shared.storage import Storage, make_storage
from sqlalchemy.ext.asyncio import AsyncEngine

from ..generations import webhook_payload
from ..infra.db import create_engine, create_session_factory
from ..media.urls import MediaUrls
from ..settings import GatewaySettings
from ..webhooks.addresses import AddressPolicy, Resolver
from ..webhooks.deliverer import Deliverer
from ..webhooks.outbox import NOTIFY_CHANNEL
from .loop import Pass, Worker
from .relay import DATABASE_DOWN


class WebhookWorker(Worker):
    """The loop around :meth:`Deliverer.deliver_due`: again at once after a full batch, else
    until a ``NOTIFY`` or the next retry is due; a database outage is logged and waited out."""

    name = "webhook deliverer"
    unavailable = "webhooks: database unavailable"
    transient = DATABASE_DOWN
    listen_to = (
        NOTIFY_CHANNEL,
        "webhooks LISTEN failed; polling",
        "webhooks LISTEN connection lost",
    )

    def __init__(
        self, settings: GatewaySettings, deliverer: Deliverer, *, stop: asyncio.Event | None = None
    ) -> None:
        super().__init__(settings, deliverer.sessions, stop=stop)
        self.deliverer = deliverer

    def poll_s(self) -> float:
        return self.settings.webhooks.poll_interval_s

    async def idle_s(self) -> float:
        return await self.deliverer.until_due()

    async def step(self) -> Pass:
        sent = await self.deliverer.deliver_due()
        return Pass.MORE if sent >= self.settings.webhooks.concurrency else Pass.IDLE

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            await self.deliverer.aclose()


def build_worker(
    settings: GatewaySettings,
    engine: AsyncEngine,
    storage: Storage | None,
    *,
    resolver: Resolver | None = None,
    stop: asyncio.Event | None = None,
) -> WebhookWorker:
    deliverer = Deliverer(
        settings.webhooks,
        AddressPolicy(settings.webhooks.networks(settings.environment)),
        create_session_factory(engine),
        partial(webhook_payload.build, urls=MediaUrls(settings, storage)),
        resolver=resolver,
    )
    return WebhookWorker(settings, deliverer, stop=stop)


async def run_deliverer(settings: GatewaySettings, stop: asyncio.Event) -> None:
    engine = create_engine(settings, pool_size=4, max_overflow=4)
    storage = make_storage(settings)
    try:
        await build_worker(settings, engine, storage, stop=stop).run()
    finally:
        await storage.close()
        await engine.dispose()
