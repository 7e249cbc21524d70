"""Wakes this API process's event streams when their user's log grows.

One ``LISTEN`` connection per process (not one per stream): a ``NOTIFY`` carrying a user id
wakes that user's streams; on every (re)connect every stream is woken once to catch up on what
it may have missed meanwhile. Streams also poll (``events_poll_interval_s``), so a lost
listener costs latency, never events: the truth is the table, the notification only a hint.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict, deque
from collections.abc import Iterator
from typing import Any

from sorami_shared.logging import get_logger

from ..infra.listen import listen
from .log import NOTIFY_CHANNEL
from .slots import StreamSlots

log = get_logger(__name__)


class EventHub:
    def __init__(self, database_url: str, *, reconnect_s: float = 2.0) -> None:
        self.database_url = database_url
        self.reconnect_s = reconnect_s
        self.closing = asyncio.Event()
        self.listening = asyncio.Event()
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
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
        for events in self._waiters.values():
            for event in events:
                event.set()

    async def aclose(self) -> None:
        self.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.contextmanager
    def subscription(self, user_id: str) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._waiters[user_id].add(event)
        try:
            yield event
        finally:
            waiters = self._waiters.get(user_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[user_id]

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

    def _wake(self, user_id: str | None = None) -> None:
        targets = self._waiters.values() if user_id is None else [self._waiters.get(user_id, set())]
        for events in targets:
            for event in events:
                event.set()

    async def _listen(self) -> None:
        await listen(
            self.database_url,
            NOTIFY_CHANNEL,
            on_notify=self._wake,  # a user id, or None (reconnected): wake every stream
            stop=self.closing,
            log=log,
            failed="event LISTEN connection failed; streams poll",
            lost="event LISTEN connection lost",
            retry_s=self.reconnect_s,
            check_s=self.reconnect_s,
            connected=self.listening,
        )
