"""The admission's decisions, through its store seam (no database): which request replays,
which is refused, which creates, and in what order the store is asked."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sorami_gateway.generations.admission import Admitted, Ask, admit
from sorami_gateway.generations.requests import build_request_models
from sorami_gateway.guards.idempotency import IdempotencyKeyReused, StoredResponse
from sorami_gateway.guards.limits import LimitExceeded, UserQuota
from sorami_gateway.settings import GatewaySettings
from sorami_shared.events import Kind

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SETTINGS = GatewaySettings(
    environment="test",
    jwt_secret="t" * 40,
    media_signing_secret="m" * 40,
    rate_limit_generations=3,
    rate_limit_window_s=60,
    max_unfinished_jobs=2,
)
REQUEST = build_request_models(SETTINGS)[Kind.IMAGE].model_validate({"prompt": "a fox"})


class FakeStore:
    def __init__(
        self,
        *,
        recent: list[datetime] | None = None,
        unfinished: int = 0,
        stored: StoredResponse | Exception | None = None,
        earlier: uuid.UUID | None = None,
    ) -> None:
        self.recent = recent or []
        self.unfinished = unfinished
        self.stored = stored
        self.earlier = earlier
        self.calls: list[str] = []
        self.window: list[datetime] | None = None
        self.remembered: Admitted | None = None
        self.created = uuid.uuid4()

    async def lock_quota(self, user_id: str) -> UserQuota:
        self.calls.append("lock_quota")
        return UserQuota(now=NOW, recent=self.recent)

    async def stored_answer(self, ask: Ask, fingerprint: str) -> StoredResponse | None:
        self.calls.append("stored_answer")
        if isinstance(self.stored, Exception):
            raise self.stored
        return self.stored

    async def earlier_attempt(self, ask: Ask) -> uuid.UUID | None:
        self.calls.append("earlier_attempt")
        return self.earlier

    async def count_unfinished(self, user_id: str) -> int:
        self.calls.append("count_unfinished")
        return self.unfinished

    async def record_create(self, user_id: str, window: list[datetime]) -> None:
        self.calls.append("record_create")
        self.window = window

    async def create(self, ask: Ask) -> uuid.UUID:
        self.calls.append("create")
        return self.created

    async def remember(self, ask: Ask, fingerprint: str, admitted: Admitted) -> None:
        self.calls.append("remember")
        self.remembered = admitted


def ask(**overrides: object) -> Ask:
    values: dict[str, object] = {
        "user_id": "alice",
        "kind": Kind.IMAGE,
        "request": REQUEST,
        "correlation_id": "c-1",
        "scope": "POST /api/images/generate",
    }
    values.update(overrides)
    return Ask(**values)  # type: ignore[arg-type]


async def test_a_first_request_creates_under_the_lock_and_counts_against_the_window():
    store = FakeStore(recent=[NOW - timedelta(seconds=90), NOW - timedelta(seconds=10)])
    admitted = await admit(store, SETTINGS, ask())
    assert admitted == Admitted(
        store.created, 202, {"job_id": str(store.created), "status": "PENDING"}, replayed=False
    )
    assert store.calls == ["lock_quota", "count_unfinished", "record_create", "create"]
    assert store.window == [NOW - timedelta(seconds=10), NOW]  # 90 s ago left the window


async def test_a_key_seen_before_answers_the_stored_job_and_creates_nothing():
    job = uuid.uuid4()
    store = FakeStore(stored=StoredResponse(job, 202, {"job_id": str(job)}))
    admitted = await admit(store, SETTINGS, ask(idempotency_key="k"))
    assert admitted == Admitted(job, 202, {"job_id": str(job)}, replayed=True)
    assert store.calls == ["lock_quota", "stored_answer"]


async def test_a_new_key_creates_and_stores_the_answer_beside_the_job():
    store = FakeStore()
    admitted = await admit(store, SETTINGS, ask(idempotency_key="k"))
    assert not admitted.replayed
    assert store.remembered == admitted
    assert store.calls[-2:] == ["create", "remember"]


async def test_a_key_reused_for_another_request_is_refused_before_any_limit():
    store = FakeStore(stored=IdempotencyKeyReused("other body"), unfinished=99)
    with pytest.raises(IdempotencyKeyReused):
        await admit(store, SETTINGS, ask(idempotency_key="k"))
    assert "create" not in store.calls


async def test_an_sdk_retry_without_a_key_answers_the_first_attempts_job():
    job = uuid.uuid4()
    store = FakeStore(earlier=job, unfinished=99)  # even at the cap: nothing new is created
    admitted = await admit(store, SETTINGS, ask(sdk_retry=True))
    assert admitted == Admitted(job, 200, {"job_id": str(job)}, replayed=True)
    assert store.calls == ["lock_quota", "earlier_attempt"]


async def test_an_sdk_retry_whose_first_attempt_stored_nothing_creates():
    store = FakeStore()
    assert not (await admit(store, SETTINGS, ask(sdk_retry=True))).replayed
    assert store.calls == [
        "lock_quota",
        "earlier_attempt",
        "count_unfinished",
        "record_create",
        "create",
    ]


async def test_a_first_attempt_never_looks_for_an_earlier_one():
    store = FakeStore(earlier=uuid.uuid4())
    assert not (await admit(store, SETTINGS, ask())).replayed
    assert "earlier_attempt" not in store.calls


async def test_with_a_key_the_retry_count_is_not_used():
    store = FakeStore(earlier=uuid.uuid4())
    await admit(store, SETTINGS, ask(idempotency_key="k", sdk_retry=True))
    assert "earlier_attempt" not in store.calls


async def test_the_rate_limit_refuses_before_counting_unfinished_jobs():
    store = FakeStore(recent=[NOW - timedelta(seconds=s) for s in (50, 20, 10)])
    with pytest.raises(LimitExceeded) as refused:
        await admit(store, SETTINGS, ask())
    assert refused.value.retry_after_s == 10
    assert store.calls == ["lock_quota"]


async def test_the_unfinished_jobs_cap_refuses_and_nothing_is_recorded():
    store = FakeStore(unfinished=2)
    with pytest.raises(LimitExceeded) as refused:
        await admit(store, SETTINGS, ask())
    assert refused.value.reason == "too many unfinished generations (at most 2 at once)"
    assert store.calls == ["lock_quota", "count_unfinished"]


async def test_without_a_cap_unfinished_jobs_are_not_counted():
    settings = SETTINGS.model_copy(update={"max_unfinished_jobs": 0})
    store = FakeStore(unfinished=1000)
    assert not (await admit(store, settings, ask())).replayed
    assert "count_unfinished" not in store.calls
