"""The scheduler against real PostgreSQL and RabbitMQ: jobs wait in the database until a
generator has room (a model's queue without a consumer keeps its jobs, ``waiting_for:
"worker"``); a user with one job starts before another user's 100-job backlog, and sees where
it stands (status, a ``generation.queued`` event) and, once jobs complete, an ETA."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aio_pika
import sqlalchemy as sa
from sorami_gateway.generations.admission import Ask, admit
from sorami_gateway.generations.requests import build_request_models
from sorami_gateway.infra.db import create_engine
from sorami_gateway.scheduling.release import release_pass
from sorami_gateway.workers import scheduler as scheduler_worker
from sorami_shared.events import Kind

from .conftest import SMALL_IMAGE, FakeGenerator, auth, eventually, running_relay, scalar


class SlowGenerator(FakeGenerator):
    """Consumes the generators' queue one job at a time (prefetch 1), "runs" each for
    ``run_s`` and marks it COMPLETED, as the projector would; records the start order."""

    def __init__(self, amqp_url: str, engine, run_s: float) -> None:
        self.amqp_url, self.engine, self.run_s = amqp_url, engine, run_s
        self.started: list[tuple[str, str]] = []  # (user, job id)

    async def on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        data = json.loads(message.body)["data"]
        self.started.append((data["user_id"], data["job_id"]))
        await asyncio.sleep(self.run_s)
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "UPDATE generations SET status = 'COMPLETED', completed_at = now()"
                    " WHERE id = CAST(:j AS uuid)"
                ),
                {"j": data["job_id"]},
            )
            # as the projector does on an end: wakes the scheduler (a slot is free)
            await conn.execute(sa.text("SELECT pg_notify('sorami_gateway_queue', '')"))
        await message.ack()


def _ask(settings, user: str) -> Ask:
    request = build_request_models(settings)[Kind.IMAGE].model_validate_json(
        json.dumps(SMALL_IMAGE)
    )
    return Ask(user, Kind.IMAGE, request, "c", "POST /api/images/generate")


async def test_one_job_starts_before_a_hundred_job_backlog_and_nothing_runs_twice(
    make_settings, amqp_url, engine, client
):
    settings = make_settings(
        amqp_url=amqp_url,
        rate_limit_generations=0,
        max_unfinished_jobs=0,
        scheduler_slots_per_consumer=1,  # one job in flight per consumer
        scheduler_interactive_reserve=0,
        scheduler_position_interval_s=0.2,
    )
    writer = create_engine(settings, pool_size=2)
    for _ in range(100):
        await admit(writer, settings, _ask(settings, "heavy"))
    async with running_relay(settings):
        # no generator consumes: every job waits in the database, none in the outbox
        await eventually(lambda: _waiting_for_worker(engine, 100))
        first = await admit(writer, settings, _ask(settings, "light"))
        await eventually(lambda: _waiting_for_worker(engine, 101))
        status = await _status(client, first.job_id)
        assert status["status"] == "PENDING" and status["waiting_for"] == "worker"
        assert status["queue_position"] == 2  # after heavy's oldest, before the 99 others
        assert await scalar(engine, "SELECT count(*) FROM outbox") == 0
        told = await scalar(
            engine,
            "SELECT data FROM user_events WHERE type = 'generation.queued' AND user_id = 'light'",
        )
        assert told["queue_position"] == 2 and told["job_id"] == str(first.job_id)

        async with SlowGenerator(amqp_url, engine, run_s=0.3) as generator:
            await eventually(lambda: _started(generator, 3), timeout=20)
            assert ("light", str(first.job_id)) in generator.started[:2]
            second = await admit(writer, settings, _ask(settings, "light"))
            at = len(generator.started)
            await eventually(lambda: _started(generator, at + 3), timeout=20)
            order = [job for _, job in generator.started]
            # the heavy job running when it came, then it (or at worst one more before it)
            assert str(second.job_id) in order[at : at + 2], (at, generator.started)
            # in flight never above capacity: one consumer x one slot
            assert (
                await scalar(
                    engine,
                    "SELECT count(*) FROM generations g WHERE g.status = 'PENDING' AND NOT EXISTS"
                    " (SELECT 1 FROM generation_queue q WHERE q.job_id = g.id)",
                )
                <= 1
            )
            await eventually(lambda: _eta_known(client, engine), timeout=20)
    await writer.dispose()
    assert len(set(generator.started)) == len(generator.started)  # none released twice


async def _waiting_for_worker(engine, n: int) -> bool:
    return (
        await scalar(
            engine,
            "SELECT count(*) FROM generation_queue"
            " WHERE waiting_for = 'worker' AND position IS NOT NULL",
        )
        == n
    )


async def _status(client, job_id) -> dict:
    response = await client.get(f"/api/images/{job_id}/status", headers=auth("light"))
    assert response.status_code == 200, response.text
    return response.json()


async def _eta_known(client, engine) -> bool:
    """Jobs completed: the model's rate is known, so a queued job has an ETA, no waiting_for."""
    row = await scalar(
        engine,
        "SELECT row_to_json(q) FROM generation_queue q ORDER BY position DESC LIMIT 1",
    )
    return bool(row and row["eta_s"] and row["eta_s"] > 0 and row["waiting_for"] is None)


async def _started(generator: SlowGenerator, n: int) -> bool:
    return len(generator.started) >= n


class HoldingGenerator(FakeGenerator):
    """Takes tiny-image's requests and leaves their jobs PENDING: in flight until the test
    ends one (what counts as in flight is the database's, not the broker's)."""

    def __init__(self, amqp_url: str) -> None:
        self.amqp_url = amqp_url
        self.taken: list[str] = []

    async def on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.taken.append(json.loads(message.body)["data"]["job_id"])
        await message.ack()


async def test_creates_of_a_model_with_no_free_slot_spare_the_release_pass(
    make_settings, amqp_url, engine, monkeypatch
):
    """A create's wake-up names its model (migration 0014): while the last pass left that
    model no free slot, creates run no pass; the end of a job (a slot free) runs one and
    releases the next."""
    settings = make_settings(
        amqp_url=amqp_url,
        rate_limit_generations=0,
        max_unfinished_jobs=0,
        scheduler_slots_per_consumer=1,  # one job in flight fills the model
        scheduler_interactive_reserve=0,
        scheduler_poll_interval_s=5,  # no poll pass inside the test's windows
        scheduler_position_interval_s=5,
    )
    passes: list[Any] = []

    async def counted(*args: Any, **kwargs: Any) -> Any:
        passes.append(await release_pass(*args, **kwargs))
        return passes[-1]

    monkeypatch.setattr(scheduler_worker, "release_pass", counted)
    writer = create_engine(settings, pool_size=2)
    try:
        async with HoldingGenerator(amqp_url) as generator, running_relay(settings):
            first = await admit(writer, settings, _ask(settings, "a"))
            await eventually(lambda: _taken(generator, 1), timeout=10)
            # the queue is empty now (a pass then knows no model as full): the next create
            # runs a pass, which finds the model full with that job queued
            await admit(writer, settings, _ask(settings, "b"))
            await eventually(lambda: _saw_full(passes), timeout=10)
            settled = len(passes)
            for _ in range(5):
                await admit(writer, settings, _ask(settings, "b"))
            await asyncio.sleep(1.0)
            assert len(passes) == settled, "a create of a full model ran a release pass"
            async with engine.begin() as conn:  # the job ends, as the projector's batch does
                await conn.execute(
                    sa.text("UPDATE generations SET status = 'COMPLETED' WHERE id = :j"),
                    {"j": first.job_id},
                )
                await conn.execute(sa.text("SELECT pg_notify('sorami_gateway_queue', '')"))
            await eventually(lambda: _taken(generator, 2), timeout=10)
            assert len(passes) > settled
    finally:
        await writer.dispose()


async def _saw_full(passes: list[Any]) -> bool:
    return bool(passes) and passes[-1].full == {"tiny-image"} and passes[-1].queued >= 1


async def _taken(generator: HoldingGenerator, n: int) -> bool:
    return len(generator.taken) >= n
