"""The notifier against real PostgreSQL and RabbitMQ (fresh database and vhost per test):
outcome events in, exactly one notification row per (job, outcome) and a
``notification.created`` out, however often the input is delivered."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
import sqlalchemy as sa
from sorami_notifier.content import draft_for, notification_event_id, notification_id
from sorami_notifier.service import NotifierService
from sorami_notifier.settings import NotifierSettings
from sorami_notifier.store import make_engine, save_notifications
from sorami_notifier.tables import notifications
from sorami_shared.events import (
    Envelope,
    FailureCode,
    FileInfo,
    GenerationCompleted,
    GenerationFailed,
    Kind,
    NotificationCreated,
    Outcome,
    derived_id,
    new_event,
    parse_event,
)
from sorami_shared.messaging import EventBus
from sorami_shared.topology import EXCHANGE, NOTIFIER_OUTCOMES
from sqlalchemy.ext.asyncio import create_async_engine

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def completed(job_id: uuid.UUID, user: str = "alice", kind: Kind = Kind.IMAGE) -> Envelope[Any]:
    ext = "png" if kind is Kind.IMAGE else "mp4"
    return new_event(
        GenerationCompleted(
            job_id=job_id,
            user_id=user,
            kind=kind,
            model="tiny",
            seed=7,
            files=[
                FileInfo(
                    index=0,
                    key=f"{kind.value}/{job_id}/0.{ext}",
                    mime_type="image/png" if kind is Kind.IMAGE else "video/mp4",
                    bytes=100,
                    width=64,
                    height=64,
                )
            ],
        ),
        source="test",
        correlation_id=f"corr-{job_id.hex[:8]}",
        event_id=derived_id("generation.completed", job_id),
    )


def failed(job_id: uuid.UUID, user: str = "bob") -> Envelope[Any]:
    return new_event(
        GenerationFailed(
            job_id=job_id,
            user_id=user,
            kind=Kind.VIDEO,
            code=FailureCode.UNKNOWN_MODEL,
            reason="model 'nope' cannot be loaded",
        ),
        source="test",
        correlation_id=f"corr-{job_id.hex[:8]}",
        event_id=derived_id("generation.failed", job_id),
    )


class Harness:
    def __init__(self, amqp_url: str, database_url: str) -> None:
        self.amqp_url = amqp_url
        self.database_url = database_url
        self.settings = NotifierSettings(
            amqp_url=amqp_url,
            database_url=database_url,
            environment="test",
            shutdown_grace_s=2,
        )
        self.service: NotifierService | None = None
        self.bus = EventBus(amqp_url, source="test")
        self.engine = create_async_engine(database_url)
        self._conn: aio_pika.abc.AbstractConnection | None = None
        self.created_queue: aio_pika.abc.AbstractQueue | None = None

    async def setup(self) -> None:
        await self.bus.connect()
        self._conn = await aio_pika.connect(self.amqp_url)
        ch = await self._conn.channel()
        self.created_queue = await ch.declare_queue("test.notification-created", exclusive=True)
        await self.created_queue.bind(EXCHANGE, routing_key="notification.created")

    async def start_service(self) -> NotifierService:
        self.service = NotifierService(self.settings)
        await self.service.start(retry_for=None)
        return self.service

    async def teardown(self) -> None:
        if self.service is not None:
            await self.service.stop()
        await self.bus.close()
        if self._conn is not None:
            await self._conn.close()
        await self.engine.dispose()

    async def rows(self, job_id: uuid.UUID) -> list[Any]:
        async with self.engine.connect() as conn:
            result = await conn.execute(
                sa.text("SELECT * FROM notifications WHERE job_id = :j ORDER BY outcome"),
                {"j": job_id},
            )
            return list(result.mappings())

    async def created_events(self, n: int, within_s: float = 15.0) -> list[Envelope[Any]]:
        """Wait for ``n`` notification.created messages, then check no more arrive."""
        assert self.created_queue is not None
        got: list[Envelope[Any]] = []
        deadline = asyncio.get_running_loop().time() + within_s
        while len(got) < n:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"got {len(got)} notification.created, expected {n}")
            msg = await self.created_queue.get(fail=False)
            if msg is None:
                await asyncio.sleep(0.05)
                continue
            await msg.ack()
            got.append(parse_event(msg.body))
        await asyncio.sleep(0.5)
        extra = await self.created_queue.get(fail=False)
        assert extra is None, f"unexpected extra event: {extra.body!r}"
        return got

    async def queue_depth(self, name: str) -> int:
        conn = await aio_pika.connect(self.amqp_url)
        try:
            ch = await conn.channel()
            q = await ch.declare_queue(name, passive=True)
            return q.declaration_result.message_count or 0
        finally:
            await conn.close()


@pytest.fixture
async def h(amqp_url, make_database) -> AsyncIterator[Harness]:
    harness = Harness(amqp_url, await make_database("notifier", migrated="notifier"))
    await harness.setup()
    try:
        yield harness
    finally:
        await harness.teardown()


async def test_completed_makes_one_row_and_one_event(h: Harness) -> None:
    await h.start_service()
    job = uuid.uuid4()
    source = completed(job)
    await h.bus.publish(source)
    [event] = await h.created_events(1)
    [row] = await h.rows(job)

    nid = derived_id("notification", job, "completed")
    assert row["id"] == nid and row["user_id"] == "alice" and row["outcome"] == "completed"
    assert row["kind"] == "image" and row["title"] == "Your image is ready"
    assert row["data"] == {"job_id": str(job), "kind": "image"}
    data = event.data
    assert isinstance(data, NotificationCreated)
    assert event.id == derived_id("notification.created", nid)
    assert data.notification_id == nid and data.user_id == "alice" and data.job_id == job
    assert data.outcome is Outcome.COMPLETED and data.title == row["title"]
    assert data.created_at == row["created_at"]
    assert event.correlationid == source.correlationid  # one job followable across services


async def test_failed_makes_a_failure_notification_with_the_reason(h: Harness) -> None:
    await h.start_service()
    job = uuid.uuid4()
    await h.bus.publish(failed(job))
    [event] = await h.created_events(1)
    [row] = await h.rows(job)
    assert row["outcome"] == "failed" and row["user_id"] == "bob"
    assert row["title"] == "Your video failed"
    assert row["message"] == "Your video failed: model 'nope' cannot be loaded"
    assert event.data.outcome is Outcome.FAILED
    assert event.data.notification_id == notification_id(job, Outcome.FAILED)


async def test_duplicated_event_still_one_row_same_notification_id(h: Harness) -> None:
    job = uuid.uuid4()
    # Three copies queued before the notifier starts, so they are handled concurrently.
    for _ in range(3):
        await h.bus.publish(completed(job))
    await h.start_service()
    events = await h.created_events(3)
    rows = await h.rows(job)
    assert len(rows) == 1
    nid = notification_id(job, Outcome.COMPLETED)
    assert {e.data.notification_id for e in events} == {nid}
    assert {e.id for e in events} == {notification_event_id(nid)}
    assert len({e.data.created_at for e in events}) == 1
    assert await h.queue_depth(NOTIFIER_OUTCOMES.name) == 0
    assert await h.queue_depth(NOTIFIER_OUTCOMES.dead_letter_queue) == 0


async def test_both_outcomes_for_one_job_are_two_notifications(h: Harness) -> None:
    await h.start_service()
    job = uuid.uuid4()
    await h.bus.publish(failed(job, user="alice"))
    await h.bus.publish(completed(job))
    await h.created_events(2)
    assert [r["outcome"] for r in await h.rows(job)] == ["completed", "failed"]


async def test_crash_between_commit_and_publish_is_finished_by_the_redelivery(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = await h.start_service()
    real_publish = service.bus.publish
    calls = {"n": 0}

    async def flaky_publish(envelope, **kw):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("broker gone right after the commit")
        await real_publish(envelope, **kw)

    monkeypatch.setattr(service.bus, "publish", flaky_publish)
    job = uuid.uuid4()
    await h.bus.publish(completed(job))
    [event] = await h.created_events(1)
    assert calls["n"] == 2  # first attempt committed and failed to publish; the retry published
    assert len(await h.rows(job)) == 1
    assert event.data.notification_id == notification_id(job, Outcome.COMPLETED)


async def test_redelivered_after_restart_still_one_row(h: Harness) -> None:
    job = uuid.uuid4()
    service = await h.start_service()
    await h.bus.publish(completed(job))
    [first] = await h.created_events(1)
    await service.stop()
    h.service = None
    # The same event delivered again to a fresh process (e.g. the ack was lost).
    await h.bus.publish(completed(job))
    await h.start_service()
    [second] = await h.created_events(1)
    assert len(await h.rows(job)) == 1
    assert second.id == first.id and second.data == first.data


async def test_garbage_goes_to_the_dead_letter_queue(h: Harness) -> None:
    await h.start_service()
    conn = await aio_pika.connect(h.amqp_url)
    try:
        ch = await conn.channel()
        ex = await ch.get_exchange(EXCHANGE)
        await ex.publish(aio_pika.Message(b"not json at all"), routing_key="generation.completed")
        await ex.publish(
            aio_pika.Message(b'{"type": "generation.completed", "data": {}}'),
            routing_key="generation.failed",
        )
    finally:
        await conn.close()
    deadline = asyncio.get_running_loop().time() + 15
    while await h.queue_depth(NOTIFIER_OUTCOMES.dead_letter_queue) < 2:
        assert asyncio.get_running_loop().time() < deadline, "garbage not dead-lettered"
        await asyncio.sleep(0.1)
    # The service survived: a good event after the garbage is still handled.
    job = uuid.uuid4()
    await h.bus.publish(completed(job))
    await h.created_events(1)
    assert len(await h.rows(job)) == 1


async def test_pooled_connections_the_server_dropped_cost_a_retry_not_a_notification(
    h: Harness,
) -> None:
    """No ping on checkout: when PostgreSQL has dropped the notifier's pooled connections
    (a restart, an idle timeout), the next outcome's first statement fails, the connection is
    invalidated and the batch retried in place on a new one: still one row, one event."""
    service = await h.start_service()
    first, second = uuid.uuid4(), uuid.uuid4()
    await h.bus.publish(completed(first))
    await h.created_events(1)
    async with h.engine.connect() as conn:
        killed = (
            await conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        ).scalar()
    assert killed >= 1 and service.engine.pool.checkedin() >= 1  # a dead one waits in the pool
    await h.bus.publish(completed(second))
    [event] = await h.created_events(1)
    assert event.data.job_id == second
    assert [r["outcome"] for r in await h.rows(second)] == ["completed"]
    assert await h.queue_depth(NOTIFIER_OUTCOMES.dead_letter_queue) == 0


async def test_a_batch_that_waited_on_another_replicas_row_returns_that_row(h: Harness) -> None:
    """The batch's one statement does not see a row another replica committed while it
    waited on its key (outside its snapshot): that row is read after it, and the batch still
    answers every draft, the other's row as not inserted by it."""
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    drafts = [draft_for(completed(mine).data), draft_for(completed(theirs).data)]
    engine = make_engine(h.database_url)
    try:
        async with h.engine.connect() as other:  # the other replica, mid-transaction
            await other.begin()
            [stored_by_other] = await save_notifications_in(other, [drafts[1]])
            saving = asyncio.create_task(save_notifications(engine, drafts))
            await asyncio.sleep(0.5)
            assert not saving.done()  # waits on the other's uncommitted row
            await other.commit()
        first, second = await asyncio.wait_for(saving, 10)
    finally:
        await engine.dispose()
    assert first.id == drafts[0].id and first.inserted
    assert second.id == drafts[1].id and not second.inserted
    assert second.created_at == stored_by_other


async def save_notifications_in(conn, drafts) -> list[Any]:
    """Insert ``drafts`` in ``conn``'s open transaction; their created_at."""
    rows = []
    for d in drafts:
        values = d.model_dump(exclude={"kind", "outcome"})
        values |= {"kind": d.kind.value, "outcome": d.outcome.value}
        statement = sa.insert(notifications).values(**values).returning(notifications.c.created_at)
        rows.append((await conn.execute(statement)).scalar_one())
    return rows
