"""The sliding-window arithmetic of the per-user rate limit and the idempotency fingerprint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from sorami_gateway.guards.idempotency import request_fingerprint
from sorami_gateway.guards.limits import LimitExceeded, in_window, rate_limit_wait_s

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def test_in_window_drops_old_times_and_sorts():
    assert in_window([ago(1), ago(61), ago(30), ago(60)], NOW, 60) == [ago(30), ago(1)]


def test_under_the_limit_there_is_no_wait():
    assert rate_limit_wait_s([ago(5), ago(3)], NOW, 3, 60) is None
    assert rate_limit_wait_s([ago(i) for i in range(100)], NOW, 0, 60) is None  # 0 = off


def test_at_the_limit_wait_until_the_oldest_counted_leaves():
    recent = [ago(50), ago(20), ago(10)]
    assert rate_limit_wait_s(recent, NOW, 3, 60) == 10  # ago(50) leaves in 10 s
    assert rate_limit_wait_s(recent, NOW, 2, 60) == 40  # only the newest 2 count
    assert rate_limit_wait_s([ago(59.9)], NOW, 1, 60) == 1  # rounded up, never 0


def test_limit_exceeded_never_says_retry_after_zero():
    assert LimitExceeded("x", 0).retry_after_s == 1
    assert LimitExceeded("x", 7).retry_after_s == 7


class Body(BaseModel):
    prompt: str
    width: int = 64


def test_fingerprint_is_semantic_and_scoped():
    a = request_fingerprint("POST /api/images/generate", Body(prompt="p"))
    assert a == request_fingerprint("POST /api/images/generate", Body(width=64, prompt="p"))
    assert a != request_fingerprint("POST /api/images/generate", Body(prompt="q"))
    assert a != request_fingerprint("POST /api/videos/generate", Body(prompt="p"))
    assert a == request_fingerprint("POST /api/images/generate", {"width": 64, "prompt": "p"})
