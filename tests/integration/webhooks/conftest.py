"""Webhook fixtures: the gateway's (a migrated database, settings, the app), a receiver (a
real HTTP server on 127.0.0.1 in the test's event loop, answering what the test scripts),
and a deliverer running in the background."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from PIL import Image
from sorami_gateway.projector import Projector
from sorami_gateway.settings import GatewaySettings
from sorami_shared.messaging import Delivery
from sorami_shared.storage import make_storage

from tests.integration.gateway.conftest import (  # noqa: F401 - fixtures, used by name
    client,
    database_url,
    engine,
    make_settings,
    media_dir,
    sessions,
)
from tests.support.webhooks import Receiver, receiving, running_deliverer  # noqa: F401

FIRST = Delivery(attempt=1, max_attempts=6, redelivered=False)

# Fast retries; loopback admitted (receivers are local); plain http allowed for them.
FAST = {
    "allowed_networks": ["127.0.0.0/8", "::1/128"],
    "allow_http": True,
    "backoff_base_s": 0.05,
    "backoff_max_s": 0.2,
    "connect_timeout_s": 1.0,
    "timeout_s": 2.0,
    "lease_s": 3.0,
    "poll_interval_s": 0.5,
}


@pytest.fixture
def settings(make_settings: Callable[..., GatewaySettings]) -> GatewaySettings:  # noqa: F811
    return make_settings(webhooks=FAST, rate_limit_generations=0, max_unfinished_jobs=0)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as r:
        yield r


def png(width: int = 8, height: int = 8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


async def complete(settings: GatewaySettings, session_factory: Any, event: Any) -> None:
    """Project ``event`` (writing its files to storage first, as a generator would)."""
    storage = make_storage(settings)
    try:
        for f in getattr(event.data, "files", []):
            await storage.put(f.key, png(f.width, f.height), f.mime_type)
    finally:
        await storage.close()
    await Projector(session_factory).handle(event, FIRST)
