"""The one loop every background worker of the gateway runs (the outbox relay, the janitor,
the watchdog, the webhook deliverer): a pass, then a wait, until ``stop``.

- A pass answers :class:`Pass`: ``MORE`` (run again at once), ``IDLE`` (wait for a ``NOTIFY``
  or the poll interval; with ``idle_s``, as long as that answers, e.g. until a retry is due)
  or ``FAILED`` (back off, doubling up to ``max_backoff_s``; without a cap, wait as when idle).
- An exception of ``transient`` (a database outage) is logged and counts as ``FAILED``: the
  process keeps running and recovers by itself.
- With ``listen``, a ``LISTEN`` connection in the background wakes the loop on every
  ``NOTIFY`` on that channel, and once per (re)connect to catch up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

from sorami_shared.logging import get_logger
from sqlalchemy.ext.asyncio import AsyncEngine

from ..infra.db import SessionFactory
from ..infra.listen import in_background, listen, wait_for_wake, wait_set
from ..settings import GatewaySettings


class Pass(Enum):
    MORE = "more"
    IDLE = "idle"
    FAILED = "failed"


class Backoff:
    """Waits that double from ``first`` up to ``cap``; :meth:`reset` after a success."""

    def __init__(self, first: float, cap: float) -> None:
        self.first, self.cap, self.current = first, cap, 0.0

    def next(self) -> float:
        self.current = min(self.cap, max(self.first, self.current * 2))
        return self.current

    def reset(self) -> None:
        self.current = 0.0


@dataclass(frozen=True)
class Listen:
    database_url: str
    channel: str
    failed: str  # logged when the LISTEN connection cannot be opened
    lost: str  # logged when it drops


@dataclass
class Loop:
    name: str  # logged as "<name> running" / "<name> stopped"
    stop: asyncio.Event
    poll_s: float
    log: Any
    unavailable: str  # logged with the error when a pass raises a transient error
    transient: tuple[type[BaseException], ...]
    listen: Listen | None = None
    max_backoff_s: float | None = None
    running: dict[str, Any] = field(default_factory=dict)  # logged with "<name> running"
    idle_s: Callable[[], Awaitable[float]] | None = None  # the wait when idle (else poll_s)
    heard: Callable[[str | None], None] | None = None  # each NOTIFY's payload (None: connected)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(
        self,
        step: Callable[[], Awaitable[Pass]],
        *,
        before: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        """Until ``stop``; ``before`` (e.g. connecting to the broker) runs first, and the loop
        does not start when it answers False."""
        try:
            async with self._listening():
                if before is not None and not await before():
                    return
                self.log.info(f"{self.name} running", **self.running)
                await self._loop(step)
        finally:
            self.log.info(f"{self.name} stopped")

    async def _loop(self, step: Callable[[], Awaitable[Pass]]) -> None:
        backoff = Backoff(0.2, self.max_backoff_s or 0.0)
        while not self.stop.is_set():
            self.wake.clear()  # before the pass: a NOTIFY during it is not lost
            try:
                outcome = await step()
            except self.transient as exc:
                self.log.warning(self.unavailable, error=repr(exc)[:500])
                outcome = Pass.FAILED
            if outcome is Pass.FAILED and self.max_backoff_s is not None:
                await wait_set(self.stop, backoff.next())
                continue
            backoff.reset()
            if outcome is Pass.MORE:
                continue
            wait = self.poll_s if self.idle_s is None else await self.idle_s()
            if self.listen is not None:
                await wait_for_wake(self.wake, self.stop, wait)
            else:
                await wait_set(self.stop, wait)

    def _listening(self) -> contextlib.AbstractAsyncContextManager[None]:
        if self.listen is None:
            return contextlib.nullcontext()
        spec = self.listen

        def on_notify(payload: str | None) -> None:
            if self.heard is not None:
                self.heard(payload)
            self.wake.set()

        work = listen(
            spec.database_url,
            spec.channel,
            on_notify=on_notify,
            stop=self.stop,
            log=self.log,
            failed=spec.failed,
            lost=spec.lost,
        )
        return in_background(work, name=f"{self.name}-listen")


async def until_stopped(work: Awaitable[Any], stop: asyncio.Event) -> bool:
    """Await ``work`` (e.g. a broker connection that retries forever) unless ``stop`` comes
    first; True if it finished (its exception, if any, is raised), False if stopped."""
    done = asyncio.ensure_future(work)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({done, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not done.done():
        done.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await done
        return False
    done.result()
    return True


class Worker:
    """A background worker: a :class:`Loop` around its :meth:`step`, described by the class
    attributes below (what differs between workers); :meth:`run` is written once."""

    name: ClassVar[str]
    unavailable: ClassVar[str]  # logged when a pass raises a transient error
    transient: ClassVar[tuple[type[BaseException], ...]]
    listen_to: ClassVar[tuple[str, str, str] | None] = None  # channel, failed, lost messages

    def __init__(
        self,
        settings: GatewaySettings,
        sessions: SessionFactory,
        *,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.stop = stop or asyncio.Event()

    @property
    def engine(self) -> AsyncEngine:
        """The sessions' engine: its pooled connections' driver for the hot statements."""
        return self.sessions.kw["bind"]  # type: ignore[no-any-return]

    def poll_s(self) -> float:
        raise NotImplementedError

    def max_backoff_s(self) -> float | None:
        return None

    def running(self) -> dict[str, Any]:
        return {}

    async def before(self) -> bool:
        return True

    async def idle_s(self) -> float:
        """How long to wait when a pass found nothing to do (a NOTIFY ends it early)."""
        return self.poll_s()

    async def step(self) -> Pass:
        raise NotImplementedError

    def heard(self, payload: str | None) -> None:
        """A ``NOTIFY`` on ``listen_to`` (its payload; None: the listener (re)connected), just
        before it wakes the loop."""

    async def run(self) -> None:
        """Until ``stop`` is set."""
        listen_spec = None
        if self.listen_to is not None:
            channel, failed, lost = self.listen_to
            listen_spec = Listen(self.settings.database_url, channel, failed, lost)
        loop = Loop(
            name=self.name,
            stop=self.stop,
            poll_s=self.poll_s(),
            log=get_logger(type(self).__module__),
            unavailable=self.unavailable,
            transient=self.transient,
            listen=listen_spec,
            max_backoff_s=self.max_backoff_s(),
            running=self.running(),
            idle_s=self.idle_s,
            heard=self.heard,
        )
        await loop.run(self.step, before=self.before)
