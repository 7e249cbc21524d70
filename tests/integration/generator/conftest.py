"""Generator integration fixtures: one tiny-model cache for the whole session (built once),
one SeaweedFS server for the session, an event tap on the test vhost, and an in-process
worker (the same ``run_worker`` the CLI runs) started and stopped per test."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from sorami_generator.service import make_pipeline_cache, run_worker
from sorami_generator.settings import GeneratorSettings
from sorami_generator.tiny_models import ensure_built
from sorami_shared.events import (
    Envelope,
    GenerationParams,
    GenerationRequested,
    Kind,
    new_event,
    parse_event,
    progress_events,
)
from sorami_shared.messaging import EventBus
from sorami_shared.messaging.publisher import to_message
from sorami_shared.topology import EXCHANGE, declare_queue, generator_queue_spec

from tests.support.seaweed import SeaweedS3, run_seaweedfs


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("models")
    ensure_built("tiny-image", cache)
    ensure_built("tiny-video", cache)
    return cache


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    with run_seaweedfs(tmp_path_factory.mktemp("seaweed")) as server:
        yield server


@pytest.fixture
def settings_for(amqp_url: str, tiny_models_dir: Path, tmp_path: Path):
    def make(**overrides: Any) -> GeneratorSettings:
        values: dict[str, Any] = {
            "amqp_url": amqp_url,
            "environment": "test",
            "model_cache_dir": tiny_models_dir,
            "storage_local_dir": tmp_path / "media",
            "progress_min_interval_s": 0.0,
            # every start at once: tests count a job's 0 % per attempt (test_progress.py
            # holds it; the whole-system tests run the default)
            "progress_start_delay_s": 0.0,
            "storage_retry_backoff_s": 0.05,
            "shutdown_grace_s": 10.0,
        }
        values.update(overrides)
        return GeneratorSettings(**values)

    return make


class EventTap:
    """A private queue bound to every generation.* event: what the gateway would see."""

    KEYS = ("generation.progress", "generation.completed", "generation.failed")

    def __init__(self, url: str, keys: tuple[str, ...] = KEYS) -> None:
        self.url = url
        self.keys = keys
        self.events: list[Envelope[Any]] = []
        self._conn: aio_pika.abc.AbstractRobustConnection | None = None

    async def start(self) -> None:
        self._conn = await aio_pika.connect_robust(self.url)
        channel = await self._conn.channel()
        exchange = await channel.declare_exchange(
            EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True)
        for key in self.keys:
            await queue.bind(exchange, routing_key=key)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                # a progress of several jobs (version 2): one event per job
                self.events.extend(progress_events(parse_event(message.body)))

        await queue.consume(on_message)

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()

    def for_job(self, job_id: uuid.UUID, type_: str | None = None) -> list[Envelope[Any]]:
        return [e for e in self.events if e.job_id == job_id and (type_ is None or e.type == type_)]

    async def wait_for(self, job_id: uuid.UUID, type_: str, within: float = 60.0, count: int = 1):
        deadline = asyncio.get_running_loop().time() + within
        while len(found := self.for_job(job_id, type_)) < count:
            if asyncio.get_running_loop().time() > deadline:
                seen = [(e.type, getattr(e.data, "progress", None)) for e in self.for_job(job_id)]
                raise AssertionError(f"no {type_} for {job_id} within {within}s; seen {seen}")
            await asyncio.sleep(0.05)
        return found

    async def wait_terminal(self, job_id: uuid.UUID, within: float = 60.0) -> Envelope[Any]:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            done = [
                e
                for e in self.for_job(job_id)
                if e.type in ("generation.completed", "generation.failed", "generation.cancelled")
            ]
            if done:
                return done[0]
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no outcome for {job_id} within {within}s")
            await asyncio.sleep(0.05)


@pytest.fixture
async def tap(amqp_url: str) -> AsyncIterator[EventTap]:
    tap = EventTap(amqp_url)
    await tap.start()
    yield tap
    await tap.close()


class ClientBus:
    """Plays the gateway's relay: publishes ``generation.requested`` to its model's queue,
    declaring that queue first as the scheduler does before it releases a job (a generator
    declares the queues of the models it serves only when it starts)."""

    def __init__(self, amqp_url: str) -> None:
        self.amqp_url = amqp_url
        self.bus = EventBus(amqp_url, source="test-gateway")
        self.declared: set[str] = set()

    async def publish(self, envelope: Any, **kwargs: Any) -> None:
        if envelope.type == "generation.requested":
            await self._declare(envelope.data.params.model)
        await self.bus.publish(envelope, **kwargs)

    async def publish_to_single_queue(self, envelope: Any) -> None:
        """As a release from before the queue per model: to ``generator.requests``, which
        every generator drains whatever model a request names."""
        connection = await aio_pika.connect(self.amqp_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(EXCHANGE)
            await exchange.publish(to_message(envelope), routing_key=envelope.type)

    async def _declare(self, model: str) -> None:
        if model in self.declared:
            return
        connection = await aio_pika.connect(self.amqp_url)
        async with connection:
            await declare_queue(await connection.channel(), generator_queue_spec(model))
        self.declared.add(model)


@pytest.fixture
async def client_bus(amqp_url: str) -> AsyncIterator[ClientBus]:
    client = ClientBus(amqp_url)
    await client.bus.connect()
    for model in ("tiny-image", "tiny-video"):
        await client._declare(model)
    yield client
    await client.bus.close()


def request(
    kind: Kind = Kind.IMAGE,
    *,
    job_id: uuid.UUID | None = None,
    user_id: str = "alice",
    **params: Any,
) -> Envelope[GenerationRequested]:
    base: dict[str, Any] = {
        "prompt": "a red fox in the snow",
        "model": "tiny-image" if kind == Kind.IMAGE else "tiny-video",
        "width": 64,
        "height": 64,
        "num_inference_steps": 2,
        "guidance_scale": 5.0,
    }
    if kind == Kind.VIDEO:
        base.update(num_frames=8, fps=8)
    base.update(params)
    data = GenerationRequested(
        job_id=job_id or uuid.uuid4(),
        user_id=user_id,
        kind=kind,
        params=GenerationParams(**base),
    )
    return new_event(data, source="test-gateway", correlation_id=f"corr-{uuid.uuid4().hex[:8]}")


@contextlib.asynccontextmanager
async def running_worker(
    settings: GeneratorSettings, **kwargs: Any
) -> AsyncIterator[asyncio.Task[None]]:
    """The real worker in this process; stopped like SIGTERM would stop it."""
    stop = asyncio.Event()
    kwargs.setdefault("pipelines", make_pipeline_cache(settings))
    task = asyncio.create_task(run_worker(settings, stop, **kwargs))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)
