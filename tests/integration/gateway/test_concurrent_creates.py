"""200 creates over 20 users, sent all at once to two replicas (two app instances, two
engines), leave exactly what the same 200 sent one by one to one instance leave: per user the
same number of jobs, queued requests, user events and creates counted in the quota window, one
``generation.requested`` and one first event per job. The limits bite (each user asks 9
distinct jobs, one of them twice with an Idempotency-Key, at a rate limit of 8), so the
per-user serialization is what makes the two runs agree."""

from __future__ import annotations

import asyncio
import itertools

from .conftest import SMALL_IMAGE, auth, running_client, scalar

USERS = [f"user-{i:02d}" for i in range(20)]
LIMITS = {"rate_limit_generations": 8, "rate_limit_window_s": 3600, "max_unfinished_jobs": 0}


def requests() -> list[tuple[str, dict, dict]]:
    """(user, body, headers): 10 per user, 200 in all."""
    asked = []
    for user in USERS:
        for n in range(9):
            asked.append((user, {**SMALL_IMAGE, "seed": n}, auth(user)))
        asked.append((user, {**SMALL_IMAGE, "seed": 0}, {**auth(user), "Idempotency-Key": "dup"}))
        asked[-10] = (user, asked[-10][1], {**auth(user), "Idempotency-Key": "dup"})
    return asked


async def tally(settings) -> dict[str, tuple[int, int, int, int]]:
    """Per user: (jobs, queued requests, user events, creates in the quota window)."""
    from sorami_gateway.infra.db import create_engine

    engine = create_engine(settings, pool_size=1)
    try:
        found = {}
        for user in USERS:
            found[user] = (
                await scalar(engine, "SELECT count(*) FROM generations WHERE user_id = :u", u=user),
                await scalar(
                    engine,
                    "SELECT count(*) FROM generation_queue o JOIN generations g"
                    " ON g.id = o.job_id WHERE g.user_id = :u",
                    u=user,
                ),
                await scalar(engine, "SELECT count(*) FROM user_events WHERE user_id = :u", u=user),
                await scalar(
                    engine,
                    "SELECT coalesce(cardinality(recent), 0) FROM generation_quotas"
                    " WHERE user_id = :u",
                    u=user,
                ),
            )
        orphans = await scalar(
            engine,
            "SELECT count(*) FROM generations g WHERE"
            " (SELECT count(*) FROM generation_queue o WHERE o.job_id = g.id) <> 1"
            " OR (SELECT count(*) FROM user_events e WHERE e.job_id = g.id) <> 1",
        )
        assert orphans == 0
        return found
    finally:
        await engine.dispose()


async def test_concurrent_creates_on_two_replicas_match_the_sequential_run(
    make_settings, make_database
):
    sequential = make_settings(**LIMITS)
    concurrent = make_settings(
        **LIMITS, database_url=await make_database("gateway", migrated="gateway")
    )

    created_one_by_one = 0
    async with running_client(sequential) as client:
        for _user, body, headers in requests():
            r = await client.post("/api/images/generate", json=body, headers=headers)
            assert r.status_code in (202, 429), r.text
            created_one_by_one += r.status_code == 202 and "Idempotent-Replayed" not in r.headers

    async with running_client(concurrent) as a, running_client(concurrent) as b:
        replicas = itertools.cycle([a, b])
        answers = await asyncio.gather(
            *(
                next(replicas).post("/api/images/generate", json=body, headers=headers)
                for _user, body, headers in requests()
            )
        )
    assert {r.status_code for r in answers} <= {202, 429}, [r.text for r in answers]
    created_at_once = sum(
        r.status_code == 202 and "Idempotent-Replayed" not in r.headers for r in answers
    )

    one_by_one, at_once = await tally(sequential), await tally(concurrent)
    assert at_once == one_by_one
    assert set(one_by_one.values()) == {(8, 8, 8, 8)}  # the rate limit bit every user
    assert created_at_once == created_one_by_one == 8 * len(USERS)
