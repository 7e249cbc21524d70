"""The admission's decisions as the one statement takes them (``sorami_admit_generation``,
migration 0006), against PostgreSQL: which request replays, which is refused and why, which
creates, and what the quota row keeps. (These were unit tests of a Python decision function
before the create became one round trip; the cases and expected answers are the same.)"""

from __future__ import annotations

import uuid

import pytest
from sorami_gateway.generations.admission import Admitted, Ask, admit, statement_arguments
from sorami_gateway.generations.create_sql import admit_statement
from sorami_gateway.generations.requests import build_request_models
from sorami_gateway.guards.idempotency import IdempotencyKeyReused
from sorami_gateway.guards.limits import LimitExceeded
from sorami_gateway.infra.db import driver_connection
from sorami_shared.events import Kind
from sqlalchemy import text

from .conftest import scalar

LIMITS = {"rate_limit_generations": 3, "rate_limit_window_s": 60, "max_unfinished_jobs": 2}


@pytest.fixture
def limited(make_settings):
    return make_settings(**LIMITS, unfinished_jobs_retry_after_s=7)


def ask(settings, **overrides: object) -> Ask:
    request = build_request_models(settings)[Kind.IMAGE].model_validate({"prompt": "a fox"})
    values: dict[str, object] = {
        "user_id": "alice",
        "kind": Kind.IMAGE,
        "request": request,
        "correlation_id": "c-1",
        "scope": "POST /api/images/generate",
    }
    values.update(overrides)
    return Ask(**values)  # type: ignore[arg-type]


async def seed_window(engine, user: str, *seconds_ago: float) -> None:
    """The user's quota row, with creates that started ``seconds_ago`` (database clock)."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO generation_quotas (user_id, recent) VALUES (:u, ARRAY("
                "SELECT clock_timestamp() - make_interval(secs => s) FROM unnest("
                "CAST(:secs AS float8[])) AS s))"
                " ON CONFLICT (user_id) DO UPDATE SET recent = excluded.recent"
            ),
            {"u": user, "secs": list(seconds_ago)},
        )


def ages_are(actual: list[float], expected: list[int], slack_s: float = 3.0) -> bool:
    """``actual`` ages as ``expected`` (whole seconds), allowing the time this test has taken
    since (a loaded machine: the rounded age of a create just made can read 1)."""
    return len(actual) == len(expected) and all(
        0 <= a - e <= slack_s for a, e in zip(actual, expected, strict=True)
    )


async def window_ages(engine, user: str) -> list[float]:
    """How long ago (s, rounded) each create the user's row keeps started, oldest first."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT round(extract(epoch FROM clock_timestamp() - t)) FROM generation_quotas,"
                " unnest(recent) AS t WHERE user_id = :u ORDER BY t"
            ),
            {"u": user},
        )
        return [float(r[0]) for r in rows]


async def jobs(engine, user: str = "alice") -> int:
    return await scalar(engine, "SELECT count(*) FROM generations WHERE user_id = :u", u=user)


async def test_a_first_request_creates_and_counts_against_the_window(limited, engine):
    await seed_window(engine, "alice", 90, 10)
    admitted = await admit(engine, limited, ask(limited))
    job = admitted.job_id
    assert admitted == Admitted(job, 202, {"job_id": str(job), "status": "PENDING"}, False)
    assert ages_are(await window_ages(engine, "alice"), [10, 0])  # 90 s ago left the window
    for table, column in (("generations", "id"), ("user_events", "job_id")):
        assert await scalar(engine, f"SELECT count(*) FROM {table} WHERE {column} = :j", j=job)
    payload = await scalar(engine, "SELECT payload FROM generation_queue")
    assert payload["data"]["job_id"] == str(job)  # the minted id is the row's and the event's


async def test_a_key_seen_before_answers_the_stored_job_and_creates_nothing(limited, engine):
    first = await admit(engine, limited, ask(limited, idempotency_key="k"))
    again = await admit(engine, limited, ask(limited, idempotency_key="k"))
    assert again == Admitted(first.job_id, 202, first.body, replayed=True)
    assert await jobs(engine) == 1
    assert ages_are(await window_ages(engine, "alice"), [0])  # a replay is not charged


async def test_a_new_key_stores_the_answer_beside_the_job(limited, engine):
    admitted = await admit(engine, limited, ask(limited, idempotency_key="k"))
    stored = await scalar(engine, "SELECT response FROM idempotency_keys WHERE key = 'k'")
    assert stored == {"status_code": 202, "body": admitted.body}


async def test_a_key_reused_for_another_request_is_refused_before_any_limit(limited, engine):
    await admit(engine, limited, ask(limited, idempotency_key="k"))
    await admit(engine, limited, ask(limited))  # now at the cap (2 unfinished)
    other = build_request_models(limited)[Kind.IMAGE].model_validate({"prompt": "a wolf"})
    with pytest.raises(IdempotencyKeyReused):
        await admit(engine, limited, ask(limited, idempotency_key="k", request=other))
    assert await jobs(engine) == 2


async def test_an_sdk_retry_without_a_key_answers_the_first_attempts_job(limited, engine):
    first = await admit(engine, limited, ask(limited))
    await admit(engine, limited, ask(limited))  # at the cap: a retry still gets its job
    retry = await admit(engine, limited, ask(limited, sdk_retry=True))
    assert retry.replayed and retry.status_code == 200
    assert retry.job_id != first.job_id  # the newest matching job
    assert retry.body == {"job_id": str(retry.job_id)}
    assert await jobs(engine) == 2


async def test_an_sdk_retry_whose_first_attempt_stored_nothing_creates(limited, engine):
    assert not (await admit(engine, limited, ask(limited, sdk_retry=True))).replayed
    assert await jobs(engine) == 1


async def test_a_first_attempt_never_looks_for_an_earlier_one(limited, engine):
    a = await admit(engine, limited, ask(limited))
    b = await admit(engine, limited, ask(limited))
    assert not b.replayed and a.job_id != b.job_id


async def test_with_a_key_the_retry_count_is_not_used(limited, engine):
    await admit(engine, limited, ask(limited, idempotency_key="k1"))
    second = await admit(engine, limited, ask(limited, idempotency_key="k2", sdk_retry=True))
    assert not second.replayed and await jobs(engine) == 2


async def test_the_rate_limit_refuses_before_the_cap_and_waits_for_the_oldest(limited, engine):
    await admit(engine, limited, ask(limited))
    await admit(engine, limited, ask(limited))  # at the cap
    await seed_window(engine, "alice", 50, 20, 10)  # and at the rate limit
    with pytest.raises(LimitExceeded) as refused:  # both limits refuse: the rate limit speaks
        await admit(engine, limited, ask(limited))
    assert refused.value.reason == "rate limit: 3 generations per 60 s"
    assert refused.value.retry_after_s == 10  # 50 s ago leaves the window in 10 s


@pytest.mark.parametrize(
    ("limit", "ages", "wait"),
    [(3, (50, 20, 10), 10), (2, (50, 20, 10), 40), (1, (59.5,), 1), (3, (45, 30, 5), 15)],
)
async def test_the_wait_is_until_the_oldest_counted_create_leaves(
    make_settings, engine, limit, ages, wait
):
    settings = make_settings(rate_limit_generations=limit, rate_limit_window_s=60)
    await seed_window(engine, "alice", *ages)
    with pytest.raises(LimitExceeded) as refused:
        await admit(engine, settings, ask(settings))
    assert refused.value.retry_after_s == wait  # whole seconds, rounded up, never 0


async def test_room_in_the_window_and_a_limit_of_zero_are_no_refusal(make_settings, engine):
    settings = make_settings(rate_limit_generations=3, rate_limit_window_s=60)
    await seed_window(engine, "alice", 61, 65, 70, 1)  # the old ones left the window
    assert not (await admit(engine, settings, ask(settings))).replayed
    off = make_settings(rate_limit_generations=0, max_unfinished_jobs=0)
    await seed_window(engine, "bob", *range(50))
    assert not (await admit(engine, off, ask(off, user_id="bob"))).replayed
    assert ages_are(await window_ages(engine, "bob"), [0])  # off: only this create is kept


@pytest.mark.parametrize(
    ("limit", "ages", "kept"),
    [(3, (30, 90, 5), [30, 5, 0]), (5, (40, 30, 20, 10), [40, 30, 20, 10, 0]), (1, (70,), [0])],
)
async def test_the_window_after_a_create_keeps_at_most_the_limits_worth(
    make_settings, engine, limit, ages, kept
):
    settings = make_settings(rate_limit_generations=limit, rate_limit_window_s=60)
    await seed_window(engine, "alice", *ages)
    await admit(engine, settings, ask(settings))
    assert ages_are(await window_ages(engine, "alice"), kept)


async def test_the_unfinished_jobs_cap_refuses_and_nothing_is_recorded(limited, engine):
    await admit(engine, limited, ask(limited))
    await admit(engine, limited, ask(limited))
    with pytest.raises(LimitExceeded) as refused:
        await admit(engine, limited, ask(limited))
    assert refused.value.reason == "too many unfinished generations (at most 2 at once)"
    assert refused.value.retry_after_s == 7
    assert len(await window_ages(engine, "alice")) == 2 and await jobs(engine) == 2


async def test_without_a_cap_unfinished_jobs_are_not_counted(limited, engine):
    settings = limited.model_copy(update={"max_unfinished_jobs": 0, "rate_limit_generations": 0})
    for _ in range(5):
        assert not (await admit(engine, settings, ask(settings))).replayed
    assert await jobs(engine) == 5


async def test_a_webhook_url_is_stored_with_the_job(make_settings, engine):
    settings = make_settings()
    request = build_request_models(settings)[Kind.IMAGE].model_validate(
        {"prompt": "a fox", "webhook_url": "https://hooks.example.com/x"}
    )
    admitted = await admit(engine, settings, ask(settings, request=request))
    events = await scalar(
        engine, "SELECT events FROM generation_webhooks WHERE generation_id = :j", j=admitted.job_id
    )
    assert events and isinstance(uuid.UUID(str(admitted.job_id)), uuid.UUID)


async def test_a_create_with_a_key_reads_no_whole_table_of_keys(make_settings, engine):
    """The clean-up of expired keys and the key's own lookup go through the indexes (migration
    0015): a create's cost must not grow with the day's keys. Counted in the create's own
    transaction (``pg_stat_xact_user_tables``): no sequential scan of ``idempotency_keys``."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO idempotency_keys (user_id, scope, key, request_hash, job_id,"
                " response, expires_at) SELECT 'u' || (i % 50), 'POST /api/images/generate',"
                " md5(i::text), 'h', gen_random_uuid(), '{}', now() + interval '1 day'"
                " FROM generate_series(1, 20000) AS i"
            )
        )
        await conn.execute(text("ANALYZE idempotency_keys"))
    settings = make_settings()
    for key in ("k1", "k2", "k3"):  # past the first plan too
        asked = ask(settings, idempotency_key=key)
        arguments, _ = statement_arguments(settings, asked, uuid.uuid4())
        async with driver_connection(engine) as conn, conn.transaction():
            assert (await admit_statement(conn, arguments)).outcome == "created"
            seq, idx = await conn.fetchrow(
                "SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables"
                " WHERE relname = 'idempotency_keys'"
            )
        assert seq == 0 and idx >= 2, (key, seq, idx)  # the lookup and the clean-up


async def test_a_job_leaves_the_queue_when_it_leaves_pending(make_settings, engine):
    """Migration 0016's trigger: a queued job cancelled or failed (by any path) has no queue
    row from that commit on, so no release pass can send it and none has to purge it; a job
    still PENDING keeps its row whatever else changes."""
    settings = make_settings()
    jobs = [(await admit(engine, settings, ask(settings))).job_id for _ in range(3)]
    assert await scalar(engine, "SELECT count(*) FROM generation_queue") == 3
    async with engine.begin() as conn:
        for job, status in ((jobs[0], "CANCELLED"), (jobs[1], "FAILED"), (jobs[2], "PENDING")):
            await conn.execute(
                text("UPDATE generations SET status = :s, updated_at = now() WHERE id = :j"),
                {"s": status, "j": job},
            )
    left = await scalar(engine, "SELECT array_agg(job_id) FROM generation_queue")
    assert left == [jobs[2]]
