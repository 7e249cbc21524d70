"""The frames of ``GET /api/events`` (see :mod:`sorami_gateway.events.routes`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from sorami_shared.logging import get_logger
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ..infra.db import driver_connection
from ..settings import GatewaySettings
from . import log as user_events
from .hub import EventHub
from .log import LoggedEvent
from .slots import Slot
from .stream_sql import events_after

log = get_logger(__name__)


def _frame(event_id: int | None, event: str, data: dict[str, Any]) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


async def stream_start(
    session: AsyncSession, user_id: str, resume: int | None
) -> tuple[int, str | None]:
    """Where the stream starts, and why the client must resync (None: it need not)."""
    head = await user_events.head(session, user_id)  # its own transaction: first
    if resume is None:
        return head, None
    if resume > head:  # an id this log never gave (e.g. kept across a database reset)
        return head, "Last-Event-ID is beyond the newest event; the stream starts now"
    if resume < await user_events.purged_through(session):
        return resume, "events before this point were purged"
    return resume, None


async def stream_events(
    s: GatewaySettings,
    engine: AsyncEngine,
    hub: EventHub,
    slot: Slot,
    cursor: int,
    resync: str | None,
) -> AsyncIterator[str]:
    """The frames of one stream: ``retry``, maybe ``resync``, ``ready``, then the log's
    events after ``cursor`` as they are committed, with heartbeats, until the hub closes or
    ``events_max_stream_s`` has passed. Gives ``slot`` back when it ends."""
    user_id = slot.user_id
    loop = asyncio.get_running_loop()
    opened = loop.time()
    sent = 0
    try:
        yield f"retry: {s.events_retry_ms}\n\n"
        if resync:
            yield _frame(None, "resync", {"reason": resync})
        yield _frame(None, "ready", {"last_event_id": cursor})
        last_write = loop.time()
        with hub.log_feed(user_id) as feed, hub.preview_feed(user_id) as previews:
            while not hub.closing.is_set() and loop.time() - opened < s.events_max_stream_s:
                feed.wake.clear()
                batch: list[LoggedEvent] = []
                if feed.stale:  # read the log (hub.LogFeed); a NOTIFY during it is not lost
                    feed.stale = False
                    try:
                        async with driver_connection(engine) as conn:
                            batch = await events_after(conn, user_id, cursor, s.events_batch_size)
                    except (OSError, OperationalError, InterfaceError, DBAPIError) as exc:
                        log.warning("event stream ends: database unavailable", error=repr(exc))
                        return  # the client reconnects with Last-Event-ID
                    if len(batch) >= s.events_batch_size:
                        feed.stale = True  # more to read first: the notifications wait
                if not feed.stale:  # what notifications carried, in commit order, past the read
                    while feed.pending:
                        last = batch[-1].id if batch else cursor
                        batch += [e for e in feed.pending.popleft() if e.id > last]
                frames = []  # what this wake-up brought, written at once (one chunk)
                for item in batch:
                    data = {**item.data, "logged_at": item.created_at.isoformat()}
                    frames.append(_frame(item.id, item.type, data))
                    cursor = item.id
                sent += len(batch)
                while previews:  # live only: no id, never replayed (events/previews.py)
                    frames.append(_frame(None, "preview", previews.popleft()))
                if frames:
                    yield "".join(frames)
                    last_write = loop.time()
                if feed.stale:
                    continue
                now = loop.time()
                wait_s = min(
                    s.events_poll_interval_s,
                    max(0.0, last_write + s.events_heartbeat_s - now),
                    max(0.0, opened + s.events_max_stream_s - now),
                )
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait_s):
                        await feed.wake.wait()
                if not feed.wake.is_set():
                    feed.stale = True  # the poll: a lost notification costs latency only
                if loop.time() - last_write >= s.events_heartbeat_s:
                    yield ": heartbeat\n\n"
                    last_write = loop.time()
    finally:
        slot.release()
        log.info(
            "event stream closed",
            user_id=user_id,
            events=sent,
            open_s=round(loop.time() - opened, 1),
        )
