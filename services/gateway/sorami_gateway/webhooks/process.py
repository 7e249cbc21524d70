"""``sorami-gateway webhooks``: the deliverer as its own process.

Its own process, not a task of the relay: it waits on receivers anywhere on the internet
(up to ``timeout_s`` each), which must never delay the relay's publishing; it is the only
gateway process that needs outbound internet access, so a network policy can grant egress to
it alone; and it scales and restarts on its own (several may run: claims skip locked rows)."""

from __future__ import annotations

import asyncio

from sorami_shared.storage import Storage, make_storage
from sqlalchemy.ext.asyncio import AsyncEngine

from ..db import create_engine, create_session_factory
from ..media_urls import MediaUrls
from ..settings import GatewaySettings
from .addresses import AddressPolicy, Resolver
from .deliverer import Deliverer


def build_deliverer(
    settings: GatewaySettings,
    engine: AsyncEngine,
    storage: Storage | None,
    *,
    resolver: Resolver | None = None,
    stop: asyncio.Event | None = None,
) -> Deliverer:
    return Deliverer(
        settings.webhooks,
        AddressPolicy(settings.webhooks.networks(settings.environment)),
        create_session_factory(engine),
        MediaUrls(settings, storage),
        database_url=settings.database_url,
        resolver=resolver,
        stop=stop,
    )


async def run_deliverer(settings: GatewaySettings, stop: asyncio.Event) -> None:
    engine = create_engine(settings, pool_size=4, max_overflow=4)
    storage = make_storage(settings)
    try:
        await build_deliverer(settings, engine, storage, stop=stop).run()
    finally:
        await storage.close()
        await engine.dispose()
