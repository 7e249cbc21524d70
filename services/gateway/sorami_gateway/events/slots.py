"""The cap on open event streams per user, in one API process
(``max_streams_per_user``; a process counts its own streams: with N workers or replicas a user
may hold up to N times the cap in all, each process still bounded).

A slot is taken before the stream answers (so the refusal is a 429, not a dead stream) and
given back when the stream ends, or when a response that never started streaming is dropped.
"""

from __future__ import annotations

from collections import Counter


class TooManyStreams(Exception):
    """The user already holds ``cap`` streams in this process (429)."""

    def __init__(self, cap: int) -> None:
        super().__init__(f"too many open event streams (at most {cap} per user); close one")
        self.cap = cap


class StreamSlots:
    def __init__(self) -> None:
        self._open: Counter[str] = Counter()

    def take(self, user_id: str, cap: int) -> Slot:
        """A slot for one more stream of ``user_id``; :class:`TooManyStreams` at ``cap``
        (0: no cap)."""
        if cap and self._open[user_id] >= cap:
            raise TooManyStreams(cap)
        self._open[user_id] += 1
        return Slot(self, user_id)

    def open(self, user_id: str) -> int:
        return self._open[user_id]

    def _give_back(self, user_id: str) -> None:
        self._open[user_id] -= 1
        if self._open[user_id] <= 0:
            del self._open[user_id]


class Slot:
    def __init__(self, slots: StreamSlots, user_id: str) -> None:
        self._slots: StreamSlots | None = slots
        self.user_id = user_id

    def release(self) -> None:
        """Idempotent."""
        if self._slots is not None:
            self._slots._give_back(self.user_id)
            self._slots = None

    def __del__(self) -> None:  # a response dropped before its stream started
        self.release()
