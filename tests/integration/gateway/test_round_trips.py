"""The hot paths' database round trips, counted on the wire (a loopback proxy between the
gateway and PostgreSQL): a create is ONE round trip, with or without an Idempotency-Key, and so
are a replay and a status read. If a change adds a statement (or a BEGIN/COMMIT), this fails.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url

from tests.support.pg_wire import counting_proxy

from .conftest import SMALL_IMAGE, auth, running_client


async def test_create_status_and_replay_are_one_round_trip_each(make_settings):
    async with counting_proxy() as wire:
        base = make_settings()
        url = make_url(base.database_url).set(host="127.0.0.1", port=wire.port)
        settings = make_settings(  # limits on (they are part of the statement), not reached
            database_url=url.render_as_string(hide_password=False),
            rate_limit_generations=100,
            max_unfinished_jobs=100,
        )
        async with running_client(settings) as client:
            for _ in range(2):  # warm: the pool's connection set up, the statements prepared
                r = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=auth())
                assert r.status_code == 202
                assert (
                    await client.get(f"/api/images/{r.json()['job_id']}/status", headers=auth())
                ).status_code == 200
            keyed = {**auth(), "Idempotency-Key": "warm"}
            assert (
                await client.post("/api/images/generate", json=SMALL_IMAGE, headers=keyed)
            ).status_code == 202

            wire.reset()
            jobs = []
            for _ in range(5):
                r = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=auth())
                assert r.status_code == 202
                jobs.append(r.json()["job_id"])
            assert wire.total() == 5  # one per create

            wire.reset()
            for i in range(3):
                keyed = {**auth(), "Idempotency-Key": f"k{i}"}
                r = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=keyed)
                assert r.status_code == 202
            again = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=keyed)
            assert again.headers.get("Idempotent-Replayed") == "true"
            assert wire.total() == 4  # a key costs nothing more; a replay is one too

            wire.reset()
            for job in jobs:
                r = await client.get(f"/api/images/{job}/status", headers=auth())
                assert r.status_code == 200 and r.json()["status"] == "PENDING"
            assert wire.total() == len(jobs)
        assert wire.listeners  # the event hub's LISTEN connection was told apart
