"""Wakes this API process's event streams when their user's log grows.

One ``LISTEN`` connection per process (not one per stream): a ``NOTIFY`` carrying a user id
wakes that user's streams (:class:`LogFeed`); on every (re)connect every stream is woken once
to read its log, since it may have missed something meanwhile. Streams also poll
(``events_poll_interval_s``), so a lost listener costs latency, never events: the truth is the
table.

A NOTIFY that carries the events its transaction appended (events/log.py) hands them to the
user's streams, which send them without reading the log: PostgreSQL delivers notifications in
commit order and a user's log ids follow commit order, so a stream that has read its log once
and then takes every later notification in order has no gap (events/stream.py). A stream that
fell behind (``MAX_PENDING``) or a notification without events makes it read the log.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict, deque
from collections.abc import Iterator
from typing import Any

from sorami_shared.logging import get_logger

from ..infra.listen import listen
from .log import NOTIFY_CHANNEL, LoggedEvent, payload_events, split_payload
from .slots import StreamSlots

log = get_logger(__name__)

# A stream's notifications not yet sent; past this it reads its log instead (events/stream.py)
MAX_PENDING = 64


class LogFeed:
    """One stream's view of its user's log: woken on every notification; ``stale`` when it
    must read the log (at the start, after a notification without events, when it fell
    behind, after the listener reconnected); else ``pending`` holds the events notifications
    carried, a list per transaction, in commit order."""

    def __init__(self) -> None:
        self.wake = asyncio.Event()
        self.stale = True
        self.pending: deque[list[LoggedEvent]] = deque()

    def mark_stale(self) -> None:
        self.stale = True
        self.pending.clear()  # a read of the log after this point covers them
        self.wake.set()

    def push(self, events: list[LoggedEvent]) -> None:
        if self.stale or len(self.pending) >= MAX_PENDING:
            self.mark_stale()
        else:
            self.pending.append(events)
            self.wake.set()


class EventHub:
    def __init__(self, database_url: str, *, reconnect_s: float = 2.0) -> None:
        self.database_url = database_url
        self.reconnect_s = reconnect_s
        self.closing = asyncio.Event()
        self.listening = asyncio.Event()
        self._waiters: dict[str, set[LogFeed]] = defaultdict(set)
        # live previews (events/previews.py), per user: each open stream's own short queue
        self._previews: dict[str, list[deque[dict[str, Any]]]] = defaultdict(list)
        self._task: asyncio.Task[None] | None = None
        self.slots = StreamSlots()  # the per-user cap on open streams (this process)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._listen(), name="event-hub")

    def close(self) -> None:
        """Ends every stream (they see ``closing``) and the listener."""
        self.closing.set()
        for feeds in self._waiters.values():
            for feed in feeds:
                feed.wake.set()

    async def aclose(self) -> None:
        self.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.contextmanager
    def log_feed(self, user_id: str) -> Iterator[LogFeed]:
        feed = LogFeed()
        self._waiters[user_id].add(feed)
        try:
            yield feed
        finally:
            waiters = self._waiters.get(user_id)
            if waiters is not None:
                waiters.discard(feed)
                if not waiters:
                    del self._waiters[user_id]

    @contextlib.contextmanager
    def subscription(self, user_id: str) -> Iterator[asyncio.Event]:
        """Only the wake-ups of :meth:`log_feed`: set on every change to the user's log."""
        with self.log_feed(user_id) as feed:
            yield feed.wake

    @contextlib.contextmanager
    def preview_feed(self, user_id: str) -> Iterator[deque[dict[str, Any]]]:
        """The user's previews from now on (the newest 8 kept); ``push_preview`` also wakes
        the user's streams (``subscription``)."""
        feed: deque[dict[str, Any]] = deque(maxlen=8)
        self._previews[user_id].append(feed)
        try:
            yield feed
        finally:
            feeds = self._previews.get(user_id)
            if feeds is not None:
                feeds[:] = [f for f in feeds if f is not feed]
                if not feeds:
                    del self._previews[user_id]

    def push_preview(self, user_id: str, data: dict[str, Any]) -> None:
        feeds = self._previews.get(user_id)
        if feeds:
            for feed in feeds:
                feed.append(data)
            self._wake(user_id)

    @property
    def streams(self) -> int:
        return sum(len(v) for v in self._waiters.values())

    def _wake(self, user_id: str) -> None:
        for feed in self._waiters.get(user_id, ()):
            feed.wake.set()

    def _on_notify(self, payload: str | None) -> None:
        """A NOTIFY (a user id, maybe with the events appended), or None: (re)connected."""
        if payload is None:
            for feeds in self._waiters.values():
                for feed in feeds:
                    feed.mark_stale()
            return
        user_id, body = split_payload(payload)
        feeds = self._waiters.get(user_id)
        if not feeds:
            return
        events = None
        if body is not None:
            try:
                events = payload_events(body)
            except (ValueError, TypeError) as exc:  # not what events/log.py sends: read the log
                log.warning("unreadable event notification; streams read the log", error=repr(exc))
        for feed in feeds:
            if events is None:
                feed.mark_stale()
            else:
                feed.push(events)

    async def _listen(self) -> None:
        await listen(
            self.database_url,
            NOTIFY_CHANNEL,
            on_notify=self._on_notify,
            stop=self.closing,
            log=log,
            failed="event LISTEN connection failed; streams poll",
            lost="event LISTEN connection lost",
            retry_s=self.reconnect_s,
            check_s=self.reconnect_s,
            connected=self.listening,
        )
