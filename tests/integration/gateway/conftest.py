"""Gateway fixtures: a migrated database, settings, the app behind httpx.ASGITransport (with
its lifespan), HS256 tokens, a relay running in the background, a queue to observe events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import jwt
import pytest
from sorami_gateway.app import create_app
from sorami_gateway.infra.db import create_engine, create_session_factory
from sorami_gateway.settings import GatewaySettings
from sorami_gateway.workers.relay import OutboxRelay
from sorami_shared.messaging import EventBus
from sorami_shared.topology import EXCHANGE, declare_exchange
from sqlalchemy.ext.asyncio import AsyncEngine

TEST_JWT_SECRET = "gateway-test-secret-" + "0123456789abcdef" * 3
TEST_MEDIA_SECRET = "gateway-test-media-secret-0123456789"
# Small sizes: the tests never run a model, but keep them realistic for the tiny ones.
SMALL_IMAGE = {
    "prompt": "a red fox in the snow",
    "width": 64,
    "height": 64,
    "num_inference_steps": 2,
}
SMALL_VIDEO = {
    "prompt": "waves at dusk",
    "width": 64,
    "height": 64,
    "num_inference_steps": 2,
    "num_frames": 8,
    "fps": 4,
}


async def eventually(
    check: Callable[[], Awaitable[Any]],
    *,
    timeout: float = 15.0,  # noqa: ASYNC109 - a polling deadline, not a cancellation scope
    interval: float = 0.05,
) -> Any:
    """Poll ``check`` until it returns something truthy; fail at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


def make_token(
    sub: str | None = "alice",
    *,
    secret: str = TEST_JWT_SECRET,
    expires_in: float = 3600,
    **claims: Any,
) -> str:
    payload: dict[str, Any] = {"exp": datetime.now(UTC) + timedelta(seconds=expires_in), **claims}
    if sub is not None:
        payload["sub"] = sub
    return jwt.encode(payload, secret, algorithm="HS256")


def auth(user: str = "alice") -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(user)}"}


@pytest.fixture
async def database_url(make_database: Callable[..., Awaitable[str]]) -> str:
    """A fresh database at the head revision (a copy of the run's migrated template)."""
    return await make_database("gateway", migrated="gateway")


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    path = tmp_path / "media"
    path.mkdir()
    return path


@pytest.fixture
def make_settings(database_url: str, media_dir: Path) -> Callable[..., GatewaySettings]:
    def make(**overrides: Any) -> GatewaySettings:
        values: dict[str, Any] = {
            "environment": "test",
            "database_url": database_url,
            # Unused unless a test passes its own: a closed port, so nothing reaches a broker.
            "amqp_url": "amqp://guest:guest@127.0.0.1:1/",
            "jwt_secret": TEST_JWT_SECRET,
            "media_signing_secret": TEST_MEDIA_SECRET,
            "storage_backend": "local",
            "storage_local_dir": media_dir,
            "public_base_url": "http://testserver",
            "relay_poll_interval_s": 0.5,
            "relay_batch_size": 50,
            "relay_publish_timeout_s": 2.0,
            "relay_max_backoff_s": 0.5,
            "db_pool_size": 5,
        }
        values.update(overrides)
        return GatewaySettings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., GatewaySettings]) -> GatewaySettings:
    return make_settings()


@contextlib.asynccontextmanager
async def running_client(settings: GatewaySettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest.fixture
async def client(settings: GatewaySettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_client(settings) as c:
        yield c


@pytest.fixture
async def engine(settings: GatewaySettings) -> AsyncIterator[AsyncEngine]:
    e = create_engine(settings, pool_size=2, max_overflow=2)
    yield e
    await e.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> Any:
    return create_session_factory(engine)


async def scalar(engine: AsyncEngine, sql: str, **params: Any) -> Any:
    from sqlalchemy import text

    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


@contextlib.asynccontextmanager
async def running_relay(settings: GatewaySettings) -> AsyncIterator[OutboxRelay]:
    """An outbox relay in the background of this event loop; stopped on exit."""
    engine = create_engine(settings, pool_size=2, max_overflow=2)
    bus = EventBus(settings.amqp_url, source="sorami/gateway-test")
    relay = OutboxRelay(settings, create_session_factory(engine), bus)
    task = asyncio.create_task(relay.run())
    try:
        yield relay
    finally:
        relay.stop.set()
        try:
            await asyncio.wait_for(task, 15)
        finally:
            await bus.close()
            await engine.dispose()


class Observed:
    """Messages seen on a test-bound queue."""

    def __init__(self) -> None:
        self.messages: list[aio_pika.abc.AbstractIncomingMessage] = []

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(m.body) for m in self.messages]


@contextlib.asynccontextmanager
async def observe(amqp_url: str, routing_key: str) -> AsyncIterator[Observed]:
    """Bind an exclusive queue to the events exchange and collect what arrives."""
    connection = await aio_pika.connect(amqp_url)
    observed = Observed()
    try:
        channel = await connection.channel()
        exchange = await declare_exchange(channel)
        assert exchange.name == EXCHANGE
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, routing_key=routing_key)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            await message.ack()
            observed.messages.append(message)

        await queue.consume(on_message)
        yield observed
    finally:
        await connection.close()
