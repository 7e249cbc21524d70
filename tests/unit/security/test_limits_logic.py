"""The idempotency fingerprint and the limit refusal (the sliding-window arithmetic is the
create statement's: tests/integration/gateway/test_admission_sql.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from sorami_gateway.guards.idempotency import request_fingerprint
from sorami_gateway.guards.limits import LimitExceeded

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


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
