"""The watchdog: a job that stopped progressing is re-sent a bounded number of times through
the outbox, then failed with a readable reason; healthy and finished jobs are left alone."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sorami_gateway.generations.stalled import SweepResult, sweep
from sorami_gateway.generations.tables import Generation, Status
from sorami_gateway.outbox.tables import OutboxMessage
from sorami_gateway.workers.projector import Projector
from sorami_shared.events import parse_event
from sorami_shared.messaging import Delivery

from . import projection_events as ev
from .conftest import SMALL_IMAGE, auth, release_queued

FIRST = Delivery(attempt=1, max_attempts=6, redelivered=False)
NOTHING = SweepResult()


async def _submit(client, sessions, *, release: bool = True) -> uuid.UUID:
    response = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=auth("alice"))
    assert response.status_code == 202, response.text
    job_id = uuid.UUID(response.json()["job_id"])
    if release:  # the scheduler's part: the request goes to the outbox, the lease starts
        assert await release_queued(sessions) == [job_id]
    return job_id


async def _age(sessions, job_id: uuid.UUID, seconds: int) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            sa.update(Generation)
            .where(Generation.id == job_id)
            .values(updated_at=sa.func.now() - sa.text(f"interval '{seconds} seconds'"))
        )


async def _events_for(sessions, job_id: uuid.UUID) -> list:
    async with sessions() as session:
        rows = (
            await session.execute(sa.select(OutboxMessage.payload).order_by(OutboxMessage.id))
        ).scalars()
        return [e for e in (parse_event_dict(p) for p in rows) if e.job_id == job_id]


def parse_event_dict(payload: dict):
    import json

    return parse_event(json.dumps(payload))


async def _generation(sessions, job_id: uuid.UUID) -> Generation:
    async with sessions() as session:
        return (
            await session.execute(sa.select(Generation).where(Generation.id == job_id))
        ).scalar_one()


@pytest.fixture
def watchdog_settings(make_settings):
    return make_settings(
        watchdog_processing_lease_s=60, watchdog_pending_lease_s=600, watchdog_max_requeues=2
    )


async def test_stalled_processing_job_is_resent_twice_then_failed_with_a_reason(
    client, sessions, watchdog_settings
):
    job_id = await _submit(client, sessions)
    projector = Projector(sessions)
    await projector.handle(ev.progress(job_id, 40), FIRST)

    assert await sweep(sessions, watchdog_settings) == NOTHING
    for expected_requeues, age in ((1, 61), (2, 601)):
        await _age(sessions, job_id, age)
        result = await sweep(sessions, watchdog_settings)
        assert result.requeued == [job_id] and result.failed == []
        generation = await _generation(sessions, job_id)
        assert generation.watchdog_requeues == expected_requeues
        assert generation.status == Status.PROCESSING.value  # re-sent, lease restarted
        assert (await sweep(sessions, watchdog_settings)).requeued == []  # not twice per lease
        # The re-send waits at the back of the queue like a new request: from now on the
        # job is judged by the pending lease, not the processing one.
        await _age(sessions, job_id, 61)
        assert await sweep(sessions, watchdog_settings) == NOTHING

    events = await _events_for(sessions, job_id)
    requested = [e for e in events if e.type == "generation.requested"]
    assert len(requested) == 3  # the original and two re-sends: same job, params, correlation
    assert {e.data.params for e in requested} == {requested[0].data.params}
    assert {e.correlationid for e in requested} == {requested[0].correlationid}
    assert len({e.id for e in requested}) == 3

    await _age(sessions, job_id, 601)
    result = await sweep(sessions, watchdog_settings)
    assert result.failed == [job_id] and result.requeued == []
    failed = [e for e in await _events_for(sessions, job_id) if e.type == "generation.failed"]
    assert len(failed) == 1
    assert failed[0].data.code.value == "too_many_attempts"
    assert "no progress for 600s" in failed[0].data.reason
    assert "re-sent 2 time(s)" in failed[0].data.reason

    # Bounded: never touched again, however long it stays unprojected.
    await _age(sessions, job_id, 10_000)
    assert await sweep(sessions, watchdog_settings) == NOTHING

    # The projector applies the failure like any other: FAILED with the readable reason.
    await projector.handle(failed[0], FIRST)
    status = (await client.get(f"/api/images/{job_id}/status", headers=auth("alice"))).json()
    assert status["status"] == "FAILED"
    assert status["error_code"] == "too_many_attempts"
    assert "watchdog" in status["error"]
    # A slow worker's late completion changes nothing: the first terminal state wins.
    await projector.handle(ev.completed(job_id), FIRST)
    status = (await client.get(f"/api/images/{job_id}/status", headers=auth("alice"))).json()
    assert status["status"] == "FAILED"


async def test_pending_uses_its_own_longer_lease_and_finished_jobs_are_left_alone(
    client, sessions, watchdog_settings
):
    waiting, done = await _submit(client, sessions), await _submit(client, sessions)
    await Projector(sessions).handle(ev.completed(done), FIRST)
    await _age(sessions, waiting, 300)  # a long queue: PENDING for 5 minutes is fine
    await _age(sessions, done, 100_000)
    assert await sweep(sessions, watchdog_settings) == NOTHING
    await _age(sessions, waiting, 601)
    assert (await sweep(sessions, watchdog_settings)).requeued == [waiting]


async def test_a_resent_job_that_completed_is_left_alone(client, sessions, watchdog_settings):
    """Found by the fault run on a loaded machine: a job re-sent once, then completed, was
    re-sent again and failed once its pending lease had passed (a second notification)."""
    job_id = await _submit(client, sessions)
    await Projector(sessions).handle(ev.progress(job_id, 10), FIRST)
    await _age(sessions, job_id, 61)
    assert (await sweep(sessions, watchdog_settings)).requeued == [job_id]
    await Projector(sessions).handle(ev.completed(job_id), FIRST)
    await _age(sessions, job_id, 100_000)
    assert await sweep(sessions, watchdog_settings) == NOTHING
    assert (await _generation(sessions, job_id)).status == "COMPLETED"


async def test_max_requeues_zero_fails_at_once(client, sessions, make_settings):
    settings = make_settings(watchdog_processing_lease_s=5, watchdog_max_requeues=0)
    job_id = await _submit(client, sessions)
    await Projector(sessions).handle(ev.progress(job_id, 10), FIRST)
    await _age(sessions, job_id, 6)
    assert (await sweep(sessions, settings)).failed == [job_id]


async def test_a_job_still_in_the_schedulers_queue_is_never_stalled(
    client, sessions, watchdog_settings
):
    queued = await _submit(client, sessions, release=False)
    await _age(sessions, queued, 100_000)  # behind a long backlog: waiting its turn
    assert await sweep(sessions, watchdog_settings) == NOTHING
    assert await release_queued(sessions) == [queued]
    assert await sweep(sessions, watchdog_settings) == NOTHING  # released: its lease restarts
