"""``GET /api/events`` against real PostgreSQL and real HTTP servers: the caller's events only,
in order, each with an id; resume with ``Last-Event-ID`` after a disconnect and after a gateway
restart, on another replica; stream tokens; heartbeats; bad input answered 4xx."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sorami_gateway.workers.janitor import Janitor
from sorami_gateway.workers.projector import Projector
from sorami_shared.storage import make_storage

from tests.integration.gateway.conftest import SMALL_IMAGE, auth, make_token
from tests.integration.gateway.projection_events import completed, notification, progress
from tests.support.sse import sse_stream

from .conftest import serving

pytestmark = pytest.mark.timeout(90)


async def _generate(base_url: str, user: str) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        r = await http.post("/api/images/generate", json=SMALL_IMAGE, headers=auth(user))
        assert r.status_code == 202, r.text
        return r.json()["job_id"]


async def _stream_token(base_url: str, user: str) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        r = await http.post("/api/events/token", headers=auth(user))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["expires_in"] > 0 and body["url"].startswith("/api/events?stream_token=")
        return body["stream_token"]


def _kinds(frames) -> list[tuple[str, str, int]]:
    return [(f.event, f.data["status"], f.data["progress"]) for f in frames]


async def test_own_events_in_order_then_resume_after_restart_on_another_replica(
    settings, sessions
) -> None:
    projector = Projector(sessions)
    async with serving(settings) as a_url, serving(settings) as b_url:
        token = make_token("alice")
        bob_token = await _stream_token(a_url, "bob")
        async with (
            sse_stream(a_url, token=token) as alice,
            sse_stream(b_url, stream_token=bob_token) as bob,
        ):
            job = await _generate(a_url, "alice")  # created through replica A
            bob_job = await _generate(b_url, "bob")
            jid = uuid.UUID(job)
            for event in (
                progress(jid, 0),
                progress(jid, 40),
                progress(jid, 40),  # no change: no event
                progress(jid, 80),
                completed(jid),
                notification(jid),
            ):
                await projector.handle(event, delivery=_delivery())
            await alice.wait_for(lambda r: any(f.event == "notification.created" for f in r.events))
            assert _kinds(alice.for_job(job)) == [
                ("generation.status", "PENDING", 0),
                ("generation.status", "PROCESSING", 0),
                ("generation.progress", "PROCESSING", 0),
                ("generation.progress", "PROCESSING", 40),
                ("generation.progress", "PROCESSING", 80),
                ("generation.completed", "COMPLETED", 100),
            ]
            note = [f for f in alice.events if f.event == "notification.created"][0]
            assert note.data["data"]["job_id"] == job and note.data["read_at"] is None
            ids = [f.id for f in alice.events]
            assert ids == sorted(ids) and len(set(ids)) == len(ids)
            assert all(f.data.get("job_id") != bob_job for f in alice.events)  # not bob's
            await bob.wait_for(lambda r: r.for_job(bob_job))
            assert {f.data.get("job_id") for f in bob.events} == {bob_job}  # not alice's
            resume_from = alice.last_id

        # Alice is gone; her next job moves on meanwhile; replica A restarts (exits here).
        second = await _generate(b_url, "alice")
        await projector.handle(progress(uuid.UUID(second), 50), delivery=_delivery())

    async with serving(settings) as a_url:  # "restarted" replica: nothing in memory
        async with sse_stream(a_url, token=token, last_event_id=resume_from) as again:
            await again.wait_for(lambda r: len(r.events) >= 3)
            assert _kinds(again.events) == [
                ("generation.status", "PENDING", 0),
                ("generation.status", "PROCESSING", 50),
                ("generation.progress", "PROCESSING", 50),
            ]
            assert all(f.data["job_id"] == second for f in again.events)
            assert again.events[0].id > resume_from
        # a fresh connection (no Last-Event-ID) starts at "now": nothing old is replayed
        async with sse_stream(a_url, token=token) as fresh:
            ready = [f for f in fresh.frames if f.event == "ready"][0]
            assert ready.data["last_event_id"] >= again.last_id
            await projector.handle(completed(uuid.UUID(second)), delivery=_delivery())
            await fresh.wait_for(lambda r: r.events)
            assert [f.event for f in fresh.events] == ["generation.completed"]


async def test_stream_auth_tokens_heartbeats_bad_input_and_resync(make_settings, sessions) -> None:
    settings = make_settings(events_heartbeat_s=0.2, stream_token_ttl_s=1)
    async with serving(settings) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        assert (await http.get("/api/events")).status_code == 401
        # a user's JWT is never a stream token, and a stream token is not a bearer token
        jwt_in_url = await http.get("/api/events", params={"stream_token": make_token("alice")})
        assert jwt_in_url.status_code == 401
        stream_token = await _stream_token(url, "alice")
        as_bearer = await http.get(
            "/api/images/user", headers={"Authorization": f"Bearer {stream_token}"}
        )
        assert as_bearer.status_code == 401
        for header in ("abc", "-1", "1" * 30):
            bad = await http.get("/api/events", headers={**auth(), "Last-Event-ID": header})
            assert bad.status_code == 422, bad.text
            assert bad.json()["detail"][0]["loc"] == ["header", "Last-Event-ID"]
        bad = await http.get("/api/events", headers=auth(), params={"last_event_id": "x"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == [
            "query",
            "last_event_id",
        ]

        async with sse_stream(url, stream_token=stream_token) as stream:
            await stream.wait_for(lambda r: len(r.comments) >= 2, timeout=5)
            assert all(c == ": heartbeat" for c in stream.comments)
        await _expire(stream_token, url)

        # events purged beyond the window: a resume from before them is told to resync
        await _generate(url, "alice")
        janitor = Janitor(make_settings(events_retention_s=0.001), sessions, make_storage(settings))
        await janitor.purge()
        async with sse_stream(url, token=make_token("alice"), last_event_id=0) as stale:
            assert [f.event for f in stale.frames][:2] == ["resync", "ready"]


async def _expire(stream_token: str, url: str) -> None:
    import asyncio

    await asyncio.sleep(2.1)  # the token's own lifetime (1 s, rounded up to whole seconds)
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        r = await http.get("/api/events", params={"stream_token": stream_token})
        assert r.status_code == 401


def _delivery():
    from sorami_shared.messaging import Delivery

    return Delivery(attempt=1, max_attempts=6, redelivered=False)


async def test_a_last_event_id_from_the_future_resyncs_and_streams_from_now(settings) -> None:
    # issue 11: an id kept across a database reset used to answer `ready` with that id and
    # then deliver nothing, ever, not even for new jobs
    async with serving(settings) as url:
        await _generate(url, "alice")
        async with sse_stream(url, token=make_token("alice"), last_event_id=99_999_999) as late:
            assert [f.event for f in late.frames][:2] == ["resync", "ready"]
            assert "beyond the newest" in late.frames[0].data["reason"]
            ready = late.frames[1].data["last_event_id"]
            assert ready < 99_999_999
            job = await _generate(url, "alice")  # a new job after the stream opened
            await late.wait_for(lambda r: r.for_job(job), timeout=10)
            assert [f.event for f in late.for_job(job)] == ["generation.status"]
            assert all(f.id > ready for f in late.events)


async def test_batch_events_ride_their_notify_and_equal_a_replay(
    make_settings, sessions, engine, monkeypatch
) -> None:
    """Creates and the projector's batches send their events in the NOTIFY (migration 0013,
    events/log.append_many): the stream sends them without reading the log (only its first
    read, and a notification too big to carry them, read it), and its frames are exactly what
    a replay from the log gives."""
    from sorami_gateway.events import stream as stream_module

    reads: list[int] = []
    real = stream_module.events_after

    async def counted(conn, user_id, last_id, limit):
        reads.append(last_id)
        return await real(conn, user_id, last_id, limit)

    monkeypatch.setattr(stream_module, "events_after", counted)
    settings = make_settings(
        events_poll_interval_s=60,
        events_heartbeat_s=60,
        max_unfinished_jobs=0,
        rate_limit_generations=0,
    )
    projector = Projector(sessions, engine=engine)
    async with serving(settings) as url:
        token = make_token("carol")
        async with sse_stream(url, token=token) as live:
            start = next(f for f in live.frames if f.event == "ready").data["last_event_id"]
            await live.wait_for(lambda _: reads == [start])  # its first read
            reads.clear()
            jobs = [uuid.UUID(await _generate(url, "carol")) for _ in range(3)]
            await live.wait_for(lambda r: len(r.events) == 3)  # PENDING each (the create's)
            for value in (0, 30, 60):
                await projector.handle_batch(
                    _items([progress(j, value, user="carol") for j in jobs])
                )
            await projector.handle_batch(_items([completed(j, user="carol") for j in jobs]))
            await live.wait_for(lambda r: len(r.events) == 3 + 3 + 9 + 3)
            assert reads == []  # every one of those came in its NOTIFY
            # 40 events of one user in one transaction: too big for a NOTIFY, so it is read
            many = [uuid.UUID(await _generate(url, "carol")) for _ in range(40)]
            await live.wait_for(lambda r: len(r.events) == 18 + 40)
            assert reads == []
            await projector.handle_batch(_items([progress(j, 50, user="carol") for j in many]))
            await live.wait_for(lambda r: len(r.events) == 58 + 80)  # a status and a progress each
            assert len(reads) == 1
        async with sse_stream(url, token=token, last_event_id=start) as replay:
            await replay.wait_for(lambda r: len(r.events) == len(live.events))
    assert [(f.id, f.event, f.data) for f in live.events] == [
        (f.id, f.event, f.data) for f in replay.events
    ]
    ids = [f.id for f in live.events]
    assert ids == sorted(set(ids))


def _items(events):
    from sorami_shared.messaging import Delivery, Item

    first = Delivery(attempt=1, max_attempts=6, redelivered=False)
    return [Item(e, first, None) for e in events]
