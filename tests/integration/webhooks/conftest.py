"""Webhook fixtures: the gateway's (a migrated database, settings, the app), a receiver (a
real HTTP server on 127.0.0.1 in the test's event loop, answering what the test scripts),
and a deliverer running in the background."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from PIL import Image
from sorami_gateway.db import create_engine
from sorami_gateway.projector import Projector
from sorami_gateway.settings import GatewaySettings
from sorami_gateway.webhooks.deliverer import Deliverer
from sorami_gateway.webhooks.process import build_deliverer
from sorami_shared.messaging import Delivery
from sorami_shared.storage import make_storage
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.integration.gateway.conftest import (  # noqa: F401 - fixtures, used by name
    client,
    database_url,
    engine,
    make_settings,
    media_dir,
    sessions,
)
from tests.integration.security.live_server import serve

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


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()


@dataclass
class Receiver:
    """Answers each POST with the next scripted answer (a status code, or a callable
    ``(request) -> Response``), then ``default``."""

    url: str = ""
    script: list[Any] = field(default_factory=list)
    default: int = 200
    received: list[Received] = field(default_factory=list)
    hold: asyncio.Event | None = None  # set: requests wait on it before answering

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        self.received.append(
            Received(request.url.path, dict(request.headers), body, time.monotonic())
        )
        if self.hold is not None:
            await self.hold.wait()
        answer = self.script.pop(0) if self.script else self.default
        return answer(request) if callable(answer) else Response(status_code=answer)


@contextlib.asynccontextmanager
async def receiving(receiver: Receiver | None = None, port: int = 0) -> AsyncIterator[Receiver]:
    receiver = receiver or Receiver()
    app = Starlette(routes=[Route("/{path:path}", receiver.handle, methods=["POST"])])
    async with serve(app, port) as base_url:  # type: ignore[arg-type]
        receiver.url = base_url
        yield receiver


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as r:
        yield r


@contextlib.asynccontextmanager
async def running_deliverer(
    settings: GatewaySettings, *, resolver: Any = None
) -> AsyncIterator[Deliverer]:
    db = create_engine(settings, pool_size=3, max_overflow=2)
    storage = make_storage(settings)
    deliverer = build_deliverer(settings, db, storage, resolver=resolver)
    task = asyncio.create_task(deliverer.run())
    try:
        yield deliverer
    finally:
        deliverer.stop.set()
        try:
            await asyncio.wait_for(task, 15)
        finally:
            await storage.close()
            await db.dispose()


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
