"""The per-user limits as pure arithmetic: refusals and the window kept after a create."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sorami_gateway.guards.limits import (
    UserQuota,
    cap_refusal,
    rate_refusal,
    window_after_create,
)
from sorami_gateway.settings import GatewaySettings

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def settings(**values: object) -> GatewaySettings:
    base: dict[str, object] = {
        "environment": "test",
        "jwt_secret": "t" * 40,
        "media_signing_secret": "m" * 40,
        "rate_limit_generations": 3,
        "rate_limit_window_s": 60,
        "max_unfinished_jobs": 2,
        "unfinished_jobs_retry_after_s": 7,
    }
    base.update(values)
    return GatewaySettings(**base)


def quota(*seconds_ago: float) -> UserQuota:
    return UserQuota(now=NOW, recent=[NOW - timedelta(seconds=s) for s in seconds_ago])


def test_room_in_the_window_is_no_refusal():
    assert rate_refusal(quota(59, 1), settings()) is None
    assert rate_refusal(quota(61, 65, 70, 1), settings()) is None  # the old ones left it


def test_a_full_window_refuses_until_the_oldest_counted_create_leaves():
    refusal = rate_refusal(quota(45, 30, 5), settings())
    assert refusal is not None
    assert refusal.reason == "rate limit: 3 generations per 60 s"
    assert refusal.retry_after_s == 15


def test_a_rate_limit_of_zero_is_off():
    assert rate_refusal(quota(*range(50)), settings(rate_limit_generations=0)) is None


def test_the_cap_refuses_at_the_cap_with_its_retry_after():
    assert cap_refusal(1, settings()) is None
    refusal = cap_refusal(2, settings())
    assert refusal is not None and refusal.retry_after_s == 7
    assert cap_refusal(500, settings(max_unfinished_jobs=0)) is None  # 0 = off


def test_the_window_after_a_create_keeps_at_most_the_limits_worth():
    assert window_after_create(quota(30, 90, 5), settings()) == [
        NOW - timedelta(seconds=30),
        NOW - timedelta(seconds=5),
        NOW,
    ]
    assert window_after_create(quota(40, 30, 20, 10), settings()) == [
        NOW - timedelta(seconds=20),
        NOW - timedelta(seconds=10),
        NOW,
    ]
    assert window_after_create(quota(10), settings(rate_limit_generations=1)) == [NOW]
