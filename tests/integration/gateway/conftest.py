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
from typing import Any, Self

import aio_pika
import httpx
import jwt
import pytest
from sorami_gateway.app import create_app
from sorami_gateway.infra.db import create_engine, create_session_factory
from sorami_gateway.settings import GatewaySettings
from sorami_gateway.workers.relay import OutboxRelay
from sorami_gateway.workers.scheduler import Scheduler
from sorami_shared.messaging import EventBus
from sorami_shared.topology import (
    EXCHANGE,
    declare_exchange,
    declare_queue,
    generator_queue_spec,
)
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
            "scheduler_poll_interval_s": 0.5,
            "scheduler_capacity_refresh_s": 0.2,
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


async def release_queued(sessions: Any, slots: int = 10_000) -> list[Any]:
    """One scheduler pass as if every generator queue had ``slots`` free: the queued jobs go
    to the outbox (for tests of what comes after the release)."""
    import time as _time

    from sorami_gateway.infra.db import driver_connection
    from sorami_gateway.scheduling.release import release_pass

    async def free(models: set[str]) -> dict[str, int]:
        return dict.fromkeys(models, slots)

    async with driver_connection(sessions.kw["bind"]) as conn, conn.transaction():
        result = await release_pass(conn, free, now=_time.time())
    return result.released


@contextlib.asynccontextmanager
async def running_relay(settings: GatewaySettings) -> AsyncIterator[OutboxRelay]:
    """An outbox relay and its scheduler (as ``sorami-gateway relay`` runs them) in the
    background of this event loop; stopped on exit."""
    engine = create_engine(settings, pool_size=3, max_overflow=2)
    bus = EventBus(settings.amqp_url, source="sorami/gateway-test")
    relay = OutboxRelay(settings, create_session_factory(engine), bus)
    scheduler = Scheduler(settings, create_session_factory(engine), stop=relay.stop)
    task = asyncio.gather(relay.run(), scheduler.run())
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
    """Bind an exclusive queue to the events exchange and collect what arrives; for
    ``generation.requested``, consume the tiny models' generator queues instead, as a generator
    would (the scheduler releases jobs only to a queue with consumers)."""
    connection = await aio_pika.connect(amqp_url)
    observed = Observed()
    try:
        channel = await connection.channel()
        exchange = await declare_exchange(channel)
        assert exchange.name == EXCHANGE
        if routing_key == "generation.requested":
            queues = [
                await declare_queue(channel, generator_queue_spec(model))
                for model in ("tiny-image", "tiny-video")
            ]
        else:
            queues = [await channel.declare_queue(exclusive=True)]
            await queues[0].bind(exchange, routing_key=routing_key)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            await message.ack()
            observed.messages.append(message)

        for queue in queues:
            await queue.consume(on_message)
        yield observed
    finally:
        await connection.close()


class FakeGenerator:
    """Consumes tiny-image's generator queue one request at a time (prefetch 1) with its
    ``on_message``, inside ``async with``; for tests of what the scheduler sends."""

    amqp_url: str

    async def on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        # a consume on a quorum queue declared a moment ago can hit its Raft member before it
        # runs (the broker closes the connection: INTERNAL_ERROR, {error, noproc}); try again,
        # as the generators' robust connections do
        for attempt in range(5):
            self.connection = await aio_pika.connect(self.amqp_url)
            try:
                channel = await self.connection.channel()
                await channel.set_qos(prefetch_count=1)
                queue = await declare_queue(channel, generator_queue_spec("tiny-image"))
                await queue.consume(self.on_message)
                return self
            except (aio_pika.exceptions.AMQPError, asyncio.CancelledError):
                # aiormq fails the pending RPC with CancelledError when the broker closes the
                # connection: only that is retried, never a cancellation of this task
                task = asyncio.current_task()
                if (task is not None and task.cancelling()) or attempt == 4:
                    raise
                with contextlib.suppress(Exception):
                    await self.connection.close()
                await asyncio.sleep(0.5)
        raise AssertionError("unreachable")

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()
