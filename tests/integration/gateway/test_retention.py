"""The janitor keeps the outbox and the dedupe records bounded, and never drops an
unpublished outbox row, however old."""

import uuid

import sqlalchemy as sa
from sorami_gateway.janitor import Janitor
from sorami_shared.storage import make_storage

from .conftest import scalar


async def _insert(engine, sql: str, **params):
    async with engine.begin() as conn:  # committed: the janitor works in its own sessions
        return (await conn.execute(sa.text(sql), params)).scalar()


async def _outbox_row(engine, *, age_s: float | None, published: bool) -> int:
    return await _insert(
        engine,
        "INSERT INTO outbox (event_id, type, payload, created_at, published_at) "
        "VALUES (:e, 'generation.requested', '{}'::jsonb, now() - make_interval(secs => :age),"
        " CASE WHEN :published THEN now() - make_interval(secs => :age) END) RETURNING id",
        e=uuid.uuid4(),
        age=age_s or 0.0,
        published=published,
    )


async def _processed(engine, *, age_s: float) -> uuid.UUID:
    event_id = uuid.uuid4()
    await _insert(
        engine,
        "INSERT INTO processed_events (consumer, event_id, event_type, processed_at) "
        "VALUES ('projector', :e, 'generation.completed', now() - make_interval(secs => :age))"
        " RETURNING event_id",
        e=event_id,
        age=age_s,
    )
    return event_id


async def test_old_published_rows_and_old_dedupe_records_are_purged_nothing_else(
    make_settings, engine, sessions
):
    day = 24 * 3600.0
    old_published = await _outbox_row(engine, age_s=8 * day, published=True)
    recent_published = await _outbox_row(engine, age_s=day, published=True)
    old_unpublished = await _outbox_row(engine, age_s=30 * day, published=False)
    old_processed = await _processed(engine, age_s=8 * day)
    recent_processed = await _processed(engine, age_s=day)

    settings = make_settings(outbox_retention_s=7 * day, processed_events_retention_s=7 * day)
    await Janitor(settings, sessions, make_storage(settings)).purge()

    kept_outbox = await scalar(engine, "SELECT array_agg(id ORDER BY id) FROM outbox")
    assert kept_outbox == sorted([recent_published, old_unpublished])
    assert old_published not in kept_outbox
    kept_processed = await scalar(engine, "SELECT array_agg(event_id) FROM processed_events")
    assert kept_processed == [recent_processed]
    assert old_processed not in kept_processed


async def _delivery(engine, *, finished_age_s: float | None) -> uuid.UUID:
    return await _insert(
        engine,
        "INSERT INTO webhook_deliveries (webhook_id, target, user_id, job_id, kind, event, url,"
        " snapshot, status, created_at, finished_at) VALUES (:w, 'request', 'alice', :j,"
        " 'image', 'completed', 'https://h.example/x', '{}'::jsonb,"
        " CASE WHEN :finished THEN 'succeeded' ELSE 'pending' END,"
        " now() - make_interval(secs => :age),"
        " CASE WHEN :finished THEN now() - make_interval(secs => :age) END) RETURNING id",
        w=f"msg_{uuid.uuid4().hex}",
        j=uuid.uuid4(),
        age=finished_age_s or 40 * 24 * 3600.0,
        finished=finished_age_s is not None,
    )


async def test_long_finished_webhook_deliveries_are_purged_never_a_pending_one(
    make_settings, engine, sessions
):
    day = 24 * 3600.0
    old = await _delivery(engine, finished_age_s=31 * day)
    recent = await _delivery(engine, finished_age_s=day)
    pending = await _delivery(engine, finished_age_s=None)  # created 40 days ago, still due
    settings = make_settings(webhooks={"retention_s": 30 * day})
    await Janitor(settings, sessions, make_storage(settings)).purge()
    kept = await scalar(engine, "SELECT array_agg(id) FROM webhook_deliveries")
    assert sorted(kept) == sorted([recent, pending]) and old not in kept
