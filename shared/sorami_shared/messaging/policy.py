"""The delivery policy's decisions: reject, backoff, and what a transient error is.

A message is acknowledged only after its handler returned, i.e. after the handler committed
its effect. What cannot be parsed is ``reject``-ed (dead-lettered at once). A handler raising
:class:`Reject` dead-letters the message; any other exception requeues it after a short
backoff, and the quorum queue's delivery limit bounds how often that can happen.

Infrastructure outages are not the message's fault: a handler failing with a transient
infrastructure error (a dropped or refused connection to the database or the broker, a pool
or publish timeout) is re-run IN PLACE with backoff, without returning the message to the
queue, for up to ``outage_window_s`` (default 300 s). A requeue would count against the
delivery limit, so an outage of a few seconds would otherwise dead-letter valid events.

Which errors are transient depends on what the service talks to. The default,
:func:`is_transient`, knows the broker and the operating system; a service with a database
builds its own with ``transient_classifier(<its driver's connection errors>)`` and hands it to
:class:`~sorami_shared.messaging.EventBus`, so the bus itself imports no database driver.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiormq

from ..events import Envelope
from .publisher import PublishFailed

DEFAULT_OUTAGE_WINDOW_S = 300.0


class Reject(Exception):
    """Raised by a handler: this message can never succeed; dead-letter it now."""


@dataclass(frozen=True)
class Delivery:
    """What a handler may want to know about the delivery it is handling."""

    attempt: int  # 1 for the first delivery
    max_attempts: int
    redelivered: bool

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


Handler = Callable[[Envelope[Any], Delivery], Awaitable[None]]
TransientClassifier = Callable[[BaseException], bool]


def backoff_seconds(attempt: int, *, base: float = 0.5, cap: float = 10.0) -> float:
    """Exponential backoff before requeueing attempt ``attempt`` (1-based)."""
    return min(cap, base * (2 ** max(0, attempt - 1)))


# What every service meets: the broker and the operating system.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    # Not all of OSError: a missing file is a logic error that must count its attempts.
    ConnectionError,  # refused, reset, aborted, broken pipe
    TimeoutError,  # asyncio.TimeoutError is an alias on 3.11
    PublishFailed,
    aiormq.exceptions.AMQPConnectionError,
    aiormq.exceptions.ChannelInvalidStateError,
)


def transient_classifier(*extra: type[BaseException]) -> TransientClassifier:
    """A classifier that counts :data:`TRANSIENT_ERRORS` and ``extra`` (e.g. a database
    driver's connection errors) as transient, looking through ``raise ... from`` chains; a
    :class:`Reject` anywhere in the chain is never transient."""
    types = TRANSIENT_ERRORS + extra

    def classify(exc: BaseException) -> bool:
        seen: set[int] = set()
        current: BaseException | None = exc
        while current is not None and id(current) not in seen:
            if isinstance(current, Reject):
                return False
            if isinstance(current, types):
                return True
            seen.add(id(current))
            current = current.__cause__ or current.__context__
        return False

    return classify


# The default: a broker or OS-level failure (connection lost or refused, timeout).
is_transient: TransientClassifier = transient_classifier()
