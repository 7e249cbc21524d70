"""Waiting in the relay's and the janitor's loops: woken by ``NOTIFY`` on a channel, with a
poll as fallback, and stopped at once by their ``stop`` event."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
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


async def listen_for_wakeups(
    database_url: str,
    channel: str,
    *,
    wake: asyncio.Event,
    stop: asyncio.Event,
    log: Any,
    failed: str,
    lost: str,
) -> None:
    """Keep a LISTEN connection on ``channel`` until ``stop``: set ``wake`` on every NOTIFY,
    and once on every (re)connect to catch up. ``failed`` and ``lost`` are the warnings logged
    when connecting fails (then retried after 5 s) and when the connection drops."""
    dsn = asyncpg_dsn(database_url)
    while not stop.is_set():
        try:
            connection = await asyncpg.connect(dsn, timeout=5)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning(failed, error=repr(exc))
            await wait_set(stop, 5)
            continue
        try:
            await connection.add_listener(channel, lambda *_: wake.set())
            wake.set()
            while not stop.is_set() and not connection.is_closed():
                await wait_set(stop, 2)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning(lost, error=repr(exc))
        finally:
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)


@contextlib.asynccontextmanager
async def listening(
    database_url: str,
    channel: str,
    *,
    wake: asyncio.Event,
    stop: asyncio.Event,
    log: Any,
    failed: str,
    lost: str,
    name: str,
) -> AsyncIterator[None]:
    """:func:`listen_for_wakeups` in a background task for the duration of the block."""
    listener = asyncio.create_task(
        listen_for_wakeups(
            database_url, channel, wake=wake, stop=stop, log=log, failed=failed, lost=lost
        ),
        name=name,
    )
    try:
        yield
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
