"""Progress from the pipeline's step callback (a worker thread) to ``generation.progress``
events (the event loop): thread-safe hand-over, throttled, percent strictly rising."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

# Steps map onto 0..STEPS_CEILING; the rest is decoding, encoding and storing, and 100 is
# what ``generation.completed`` means.
STEPS_CEILING = 95


def step_percent(step: int, total: int) -> int:
    if total <= 0:
        return 0
    return max(0, min(STEPS_CEILING, (step * STEPS_CEILING) // total))


class ProgressThrottle:
    """Decides which step updates become events: percent must rise, and at most one event per
    ``min_interval`` seconds (the first step update always passes)."""

    def __init__(self, min_interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.min_interval = min_interval
        self.clock = clock
        self.last_percent = -1
        self.last_at: float | None = None

    def offer(self, percent: int, *, force: bool = False) -> bool:
        if percent <= self.last_percent:
            return False
        now = self.clock()
        if not force and self.last_at is not None and now - self.last_at < self.min_interval:
            return False
        self.last_percent, self.last_at = percent, now
        return True


class ProgressReporter:
    """Owns one job's progress events. ``report_from_thread`` may be called from any thread;
    events are published in order by one task on the loop, best effort (a lost progress event
    is harmless; the completed event is what counts)."""

    def __init__(
        self,
        publish: Callable[[int, int | None, int | None], Awaitable[None]],
        loop: asyncio.AbstractEventLoop,
        min_interval: float,
    ) -> None:
        self._publish = publish
        self._loop = loop
        self._throttle = ProgressThrottle(min_interval)
        self._queue: asyncio.Queue[tuple[int, int | None, int | None] | None] = asyncio.Queue()
        self._task = loop.create_task(self._run())
        self.published: list[int] = []

    def report(
        self,
        percent: int,
        step: int | None = None,
        total: int | None = None,
        *,
        force: bool = False,
    ) -> None:
        """On the loop's thread."""
        if self._throttle.offer(percent, force=force):
            self._queue.put_nowait((percent, step, total))

    def report_from_thread(self, step: int, total: int) -> None:
        self._loop.call_soon_threadsafe(self.report, step_percent(step, total), step, total)

    async def _run(self) -> None:
        from sorami_shared.logging import get_logger

        log = get_logger(__name__)
        while (item := await self._queue.get()) is not None:
            try:
                await self._publish(*item)
                self.published.append(item[0])
            except Exception as exc:  # noqa: BLE001 - progress is best effort
                log.warning("progress event not published", error=str(exc), percent=item[0])

    async def close(self) -> None:
        """Publish what is queued, then stop."""
        self._queue.put_nowait(None)
        await self._task

    async def flush(self, timeout: float = 30) -> None:
        """``close``, best effort: a progress event that cannot be published is only logged."""
        from sorami_shared.logging import get_logger

        try:
            await asyncio.wait_for(self.close(), timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - progress is best effort
            get_logger(__name__).warning("progress events not flushed", error=repr(exc))

    def cancel(self) -> None:
        self._task.cancel()
