"""The verified-token cache never answers past a token's exp or the recheck interval, and
stays bounded."""

from __future__ import annotations

import time

from sorami_gateway.infra import token_cache
from sorami_gateway.infra.token_cache import VerifiedTokens


def test_a_hit_until_exp_then_the_full_check_again(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(token_cache.time, "time", lambda: now[0])
    cache = VerifiedTokens(recheck_s=60)
    cache.put("t", "alice", exp=1010)
    assert cache.get("t") == "alice"
    now[0] = 1010.0  # expired: not answered from here
    assert cache.get("t") is None
    cache.put("u", "bob", exp=5000)
    now[0] = 1069.0
    assert cache.get("u") == "bob"
    now[0] = 1071.0  # rechecked at most recheck_s after the check
    assert cache.get("u") is None
    assert cache.get("never-seen") is None


def test_the_oldest_unused_tokens_leave_first():
    cache = VerifiedTokens(size=2)
    exp = time.time() + 3600
    cache.put("a", "1", exp)
    cache.put("b", "2", exp)
    assert cache.get("a") == "1"  # a used: b is now the oldest
    cache.put("c", "3", exp)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("1", None, "3")
