"""``LISTEN`` for ``NOTIFY`` hints, and waiting on them with a poll as fallback.

One connection per listener; on every (re)connect the listener is told once to catch up
(``on_notify(None)``), since a notification sent while it was not listening is lost. The
truth is always a table: a lost notification costs latency, never data.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg

from .db import asyncpg_dsn


async def wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Wait for ``event`` at most ``seconds``; True if it was set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()


async def wait_for_wake(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    """Until ``wake`` or ``stop`` is set, at most ``seconds`` (the poll interval)."""
    woken = asyncio.create_task(wake.wait())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({woken, stopping}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    woken.cancel()
    stopping.cancel()


async def listen(
    database_url: str,
    channel: str,
    *,
    on_notify: Callable[[str | None], None],
    stop: asyncio.Event,
    log: Any,
    failed: str,
    lost: str,
    retry_s: float = 5.0,
    check_s: float = 2.0,
    connected: asyncio.Event | None = None,
) -> None:
    """Keep a LISTEN connection on ``channel`` until ``stop``: ``on_notify(payload)`` on every
    NOTIFY, ``on_notify(None)`` on every (re)connect. ``failed`` and ``lost`` are the warnings
    logged when connecting fails (retried after ``retry_s``) and when the connection drops;
    ``connected`` is set while listening."""
    dsn = asyncpg_dsn(database_url)
    while not stop.is_set():
        try:
            connection = await asyncpg.connect(dsn, timeout=5)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning(failed, error=repr(exc))
            await wait_set(stop, retry_s)
            continue
        try:
            await connection.add_listener(channel, lambda *args: on_notify(args[-1]))
            if connected is not None:
                connected.set()
            on_notify(None)
            while not stop.is_set() and not connection.is_closed():
                await wait_set(stop, check_s)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning(lost, error=repr(exc))
        finally:
            if connected is not None:
                connected.clear()
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)


@contextlib.asynccontextmanager
async def in_background(work: Any, *, name: str) -> AsyncIterator[None]:
    """Run the coroutine ``work`` (e.g. :func:`listen`) in a task for the block's duration."""
    task = asyncio.create_task(work, name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
