"""Tokens this process verified recently: a client sends the same bearer token on every
request of its session, and checking an HS256/RS256 signature is most of what auth costs.

A hit answers the ``sub`` the full check found, until the earlier of the token's ``exp`` and
``recheck_s`` after the check (a revoked signing key or a changed setting takes effect within
that); then, and for every token not here, the full check runs again. Bounded (LRU); only
tokens that passed are kept, so a flood of bad ones costs memory nothing."""

from __future__ import annotations

import time
from collections import OrderedDict


class VerifiedTokens:
    def __init__(self, *, size: int = 10_000, recheck_s: float = 60.0) -> None:
        self.size = size
        self.recheck_s = recheck_s
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def get(self, token: str) -> str | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        sub, until = entry
        if time.time() >= until:
            del self._entries[token]
            return None
        self._entries.move_to_end(token)
        return sub

    def put(self, token: str, sub: str, exp: float) -> None:
        self._entries[token] = (sub, min(float(exp), time.time() + self.recheck_s))
        self._entries.move_to_end(token)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
