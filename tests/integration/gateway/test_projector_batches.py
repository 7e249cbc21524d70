"""The projector's batch path (workers/projector_batch.py) against the one-at-a-time path:
the same events give the same generation row, files, notifications and terminal events in the
user's log, with superseded progress left out; what only the one-at-a-time path does is
deferred to it; a progress message of several jobs counts once per job; and three replicas on
one real queue, fed duplicates and out-of-order events (progress of single jobs and of many),
end like one: progress only rises, the terminal state wins, no duplicate and no gap."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from sorami_gateway.events.log import SCHEDULER_CHANNEL
from sorami_gateway.workers.projector import Projector
from sorami_shared.events import Kind
from sorami_shared.messaging import Delivery, EventBus, Item
from sorami_shared.topology import GATEWAY_PROJECTION

from . import projection_events as ev
from .conftest import SMALL_IMAGE, auth, eventually, scalar

FIRST = Delivery(attempt=1, max_attempts=6, redelivered=False)
TERMINAL = ("generation.completed", "generation.failed", "generation.cancelled")

Scenario = Callable[[uuid.UUID], list[Any]]
SCENARIOS: dict[str, Scenario] = {
    "progress out of order, then completed": lambda j: [
        ev.progress(j, 0), ev.progress(j, 60), ev.progress(j, 30), ev.completed(j),
        ev.notification(j),
    ],
    "completed before progress": lambda j: [ev.completed(j), ev.progress(j, 50)],
    "failed then completed": lambda j: [ev.progress(j, 40), ev.failed(j), ev.completed(j)],
    "duplicates and copies": lambda j: [
        ev.completed(j), ev.completed(j), ev.completed(j, event_id=uuid.uuid4()),
        ev.notification(j), ev.notification(j),
    ],
    "progress only": lambda j: [ev.progress(j, p) for p in (0, 20, 40, 60, 80)],
}  # fmt: skip


async def _new_job(client) -> uuid.UUID:
    r = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=auth("alice"))
    assert r.status_code == 202
    return uuid.UUID(r.json()["job_id"])


async def _row(engine, job: uuid.UUID) -> dict[str, Any]:
    return await scalar(
        engine,
        "SELECT json_build_object('status', status, 'progress', progress, 'error', error, "
        "'error_code', error_code, 'started', started_at IS NOT NULL, "
        "'completed', completed_at IS NOT NULL, "
        "'files', (SELECT count(*) FROM generation_files WHERE generation_id = g.id), "
        "'notes', (SELECT count(*) FROM notifications WHERE job_id = g.id)) "
        "FROM generations g WHERE id = :id",
        id=job,
    )


async def _log(engine, job: uuid.UUID) -> list[tuple[int, str, int]]:
    rows = await scalar(
        engine,
        "SELECT coalesce(json_agg(json_build_array(id, type, (data->>'progress')::int) "
        "ORDER BY id), '[]') FROM user_events WHERE coalesce(job_id, "
        "(data->'data'->>'job_id')::uuid) = :id AND type <> 'generation.queued'",
        id=job,
    )
    return [tuple(r) for r in rows]


def items(events: list[Any]) -> list[Item]:
    return [Item(e, FIRST, None) for e in events]  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(SCENARIOS))
@pytest.mark.parametrize("chunk", [1, 2, 100])
async def test_batches_end_like_one_at_a_time(client, sessions, engine, name, chunk):
    one, batched = await _new_job(client), await _new_job(client)
    projector = Projector(sessions, engine=engine)
    for event in SCENARIOS[name](one):
        await projector.handle(event, FIRST)
    events = SCENARIOS[name](batched)
    for i in range(0, len(events), chunk):
        # as the consumer does: what the batch defers (here a copy of an event of the same
        # batch) then goes through the one-at-a-time path
        for item in await projector.handle_batch(items(events[i : i + chunk])):
            assert item.envelope.id in [e.id for e in events[i : i + chunk]]
            await projector.handle(item.envelope, item.delivery)
    assert await _row(engine, batched) == await _row(engine, one)
    log_one, log_batched = await _log(engine, one), await _log(engine, batched)
    kinds = lambda log: [t for _, t, _ in log if t != "generation.progress"]  # noqa: E731
    assert kinds(log_batched) == kinds(log_one)
    progress = [p for _, t, p in log_batched if t == "generation.progress"]
    assert progress == sorted(progress)
    assert set(progress) <= {p for _, t, p in log_one if t == "generation.progress"}
    if progress:  # the last percent always reaches the user
        last = max(p for _, t, p in log_one if t == "generation.progress")
        assert progress[-1] == last
    terminal = [i for i, t, _ in log_batched if t in TERMINAL]
    assert not [i for i, t, _ in log_batched if t == "generation.progress" and terminal
                and i > terminal[0]]  # fmt: skip


async def test_what_the_batch_path_cannot_do_is_deferred(client, sessions, engine):
    job, other = await _new_job(client), await _new_job(client)
    projector = Projector(sessions, engine=engine)
    batch = items(
        [
            ev.progress(job, 10),
            ev.progress(uuid.uuid4(), 5),  # unknown job
            ev.progress(other, 10, user="mallory"),  # another user's job
            ev.completed(other, kind=Kind.VIDEO),
            ev.completed(job),
        ]
    )
    deferred = await projector.handle_batch(batch)
    assert [d.envelope.id for d in deferred] == [b.envelope.id for b in batch[1:4]]
    assert (await _row(engine, job))["status"] == "COMPLETED"
    assert (await _row(engine, other))["status"] == "PENDING"
    # the completed only: progress is never recorded (applying it twice changes nothing)
    recorded = "SELECT json_agg(event_type) FROM processed_events"
    assert await scalar(engine, recorded) == ["generation.completed"]


async def test_a_redelivered_notification_is_dropped_by_its_key_not_a_processed_record(
    client, sessions, engine
):
    """A notification's id is its row's key: the batch path records no ``processed_events``
    for it (one round trip less for a batch of notifications), and a redelivery still makes
    one row and one event in the user's log (a copy within one batch: the scenarios above)."""
    job = await _new_job(client)
    projector = Projector(sessions, engine=engine)
    note = ev.notification(job)
    assert await projector.handle_batch(items([note])) == []
    assert await projector.handle_batch(items([note])) == []  # redelivered
    again = ev.notification(job)  # the notifier's retry: another message, the same ids
    assert await projector.handle_batch(items([ev.progress(job, 10), again])) == []
    assert await scalar(engine, "SELECT count(*) FROM notifications") == 1
    assert await scalar(engine, "SELECT count(*) FROM processed_events") == 0
    logged = "SELECT count(*) FROM user_events WHERE type = 'notification.created'"
    assert await scalar(engine, logged) == 1


async def test_a_progress_of_several_jobs_is_applied_per_job_once(client, sessions, engine):
    a, b = await _new_job(client), await _new_job(client)
    projector = Projector(sessions, engine=engine)
    message = ev.progress_of_jobs([(a, 30), (b, 40)])
    assert await projector.handle_batch(items([message])) == []
    with_unknown = ev.progress_of_jobs([(a, 50), (uuid.uuid4(), 5), (b, 60)])
    deferred = await projector.handle_batch(items([with_unknown, message]))  # + a redelivery
    assert [d.envelope.id for d in deferred] == [with_unknown.id]  # the whole message
    assert [(await _row(engine, j))["progress"] for j in (a, b)] == [50, 60]
    await projector.handle(with_unknown, FIRST)  # the unknown job's entry: logged, skipped
    await projector.handle(with_unknown, FIRST)  # and again: a duplicate
    await projector.handle(message, FIRST)  # entries the batch path applied: skipped
    for job, seen in ((a, [30, 50]), (b, [40, 60])):
        log = await _log(engine, job)
        assert [p for _, t, p in log if t == "generation.progress"] == seen
        assert (await _row(engine, job))["status"] == "PROCESSING"


async def test_three_replicas_on_one_queue_end_like_one(client, sessions, engine, amqp_url):
    jobs = [await _new_job(client) for _ in range(9)]  # under the unfinished-jobs cap
    rng = random.Random(23)
    events: list[Any] = []
    for job in jobs:
        mine = [ev.progress(job, 0), ev.completed(job), ev.notification(job)]
        mine += rng.sample(mine, 2)  # the relay and redeliveries send some twice
        events += mine
    for p in (25, 50, 75):  # the generator's batch steps: one message for every job
        events += [ev.progress_of_jobs([(job, p) for job in rng.sample(jobs, len(jobs))])] * 2
    rng.shuffle(events)  # replicas and redeliveries reorder freely
    buses = [EventBus(amqp_url, source=f"sorami/gateway-test-{i}") for i in range(3)]
    publisher = EventBus(amqp_url, source="sorami/generator-test")
    try:
        for bus in buses:
            await bus.connect()
            projector = Projector(sessions, engine=engine, prefetch=20, max_batch=7)
            await bus.consume_batches(
                GATEWAY_PROJECTION, projector.handle_batch, projector.handle, prefetch=20,
                max_batch=7,
            )  # fmt: skip
        await publisher.connect()
        await asyncio.gather(*(publisher.publish(e) for e in events))
        done = "SELECT count(*) = :n FROM generations WHERE status = 'COMPLETED'"
        await eventually(lambda: scalar(engine, done, n=len(jobs)), timeout=60)
        notes = "SELECT count(*) = :n FROM notifications"
        await eventually(lambda: scalar(engine, notes, n=len(jobs)), timeout=60)
        await asyncio.sleep(0.5)  # anything still in flight would show as a duplicate below
    finally:
        for bus in [*buses, publisher]:
            await bus.close()
    ids = await scalar(engine, "SELECT json_agg(id ORDER BY id) FROM user_events")
    assert len(ids) == len(set(ids))
    for job in jobs:
        row, log = await _row(engine, job), await _log(engine, job)
        assert row["status"] == "COMPLETED" and row["progress"] == 100 and row["files"] == 2
        types = [t for _, t, _ in log]
        assert types.count("generation.completed") == 1
        assert types.count("notification.created") == 1
        progress = [p for _, t, p in log if t == "generation.progress"]
        assert progress == sorted(progress) and len(progress) == len(set(progress))
        finished = types.index("generation.completed")
        assert "generation.progress" not in types[finished:]


async def test_only_what_may_free_a_slot_wakes_the_scheduler(client, sessions, engine):
    """Neither a job's start (PENDING -> PROCESSING: it was in flight already) nor its progress
    frees a generator slot: neither path wakes the scheduler for them (each would cost a
    release pass that finds nothing free); an end does, once."""
    batched, single = await _new_job(client), await _new_job(client)
    projector = Projector(sessions, engine=engine)
    woken: list[str] = []
    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    listener = await asyncpg.connect(dsn)
    try:
        await listener.add_listener(
            SCHEDULER_CHANNEL, lambda _c, _p, channel, _x: woken.append(channel)
        )
        assert await projector.handle_batch(items([ev.progress(batched, 10)])) == []  # started
        await projector.handle(ev.progress(single, 10), FIRST)  # started, one at a time
        assert await projector.handle_batch(items([ev.progress(batched, 50)])) == []
        await projector.handle(ev.progress(single, 60), FIRST)
        await asyncio.sleep(0.3)
        assert woken == []
        for job in (batched, single):
            assert await scalar(engine, f"SELECT status FROM generations WHERE id = '{job}'") == (
                "PROCESSING"
            )
        assert (
            await projector.handle_batch(items([ev.progress(batched, 80), ev.completed(batched)]))
            == []
        )
        await eventually(lambda: _is(woken, [SCHEDULER_CHANNEL]))
    finally:
        await listener.close()


async def _is(value: list[str], expected: list[str]) -> bool:
    return value == expected
