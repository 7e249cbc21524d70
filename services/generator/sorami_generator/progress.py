"""Progress from the pipeline's step callback (a worker thread) to ``generation.progress``
events (the event loop): thread-safe hand-over, throttled, percent strictly rising.

Each job's :class:`ProgressReporter` decides which of its step updates become events (the 0 %
start always; then at most one per ``min_interval`` seconds and per ``min_delta`` percent, so
a job sends a bounded number whatever its steps). ONE :class:`ProgressHub` per worker sends
them: every update of a loop tick (a batch's step: all its jobs at once) in one message,
``generation.progress`` version 2, while the previous message awaits its confirm. A job's
terminal event waits for its own updates to be sent (``flush``), so none overtakes it.

The 0 % start is held ``start_delay`` seconds (``PROGRESS_START_DELAY_S``): a job that ends
before (an instant or turbo model's call) sends no progress at all, its terminal event says
everything (PENDING → COMPLETED is a legal move); a later step reported first sends it at
once, before that step's own update. Nobody could see a start that short, and it would cost
a broker message, a projector transaction, a log row and a stream frame per job, on the
job's critical path."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable

from sorami_shared.events import ProgressEntry
from sorami_shared.logging import get_logger

log = get_logger(__name__)

# Steps map onto 0..STEPS_CEILING; the rest is decoding, encoding and storing, and 100 is
# what ``generation.completed`` means.
STEPS_CEILING = 95


def step_percent(step: int, total: int) -> int:
    if total <= 0:
        return 0
    return max(0, min(STEPS_CEILING, (step * STEPS_CEILING) // total))


def min_delta_for(max_events: int) -> int:
    """The percent between two events so that a job sends at most ``max_events`` after 0 %."""
    return max(1, math.ceil(STEPS_CEILING / max_events))


class ProgressThrottle:
    """Decides which step updates become events: percent must rise, by ``min_delta`` at least,
    and at most one event per ``min_interval`` seconds (the first step update always passes)."""

    def __init__(
        self,
        min_interval: float,
        clock: Callable[[], float] = time.monotonic,
        min_delta: int = 1,
    ) -> None:
        self.min_interval = min_interval
        self.min_delta = min_delta
        self.clock = clock
        self.last_percent = -1
        self.last_at: float | None = None

    def offer(self, percent: int, *, force: bool = False) -> bool:
        if percent <= self.last_percent:
            return False
        now = self.clock()
        if not force and self.last_at is not None:
            if now - self.last_at < self.min_interval:
                return False
            if percent - self.last_percent < self.min_delta:
                return False
        self.last_percent, self.last_at = percent, now
        return True


Send = Callable[[list[ProgressEntry]], Awaitable[None]]


class ProgressHub:
    """Sends every job's progress entries, in order, many per message (best effort: a message
    that cannot be sent is logged and its entries count as sent)."""

    def __init__(self, send: Send, max_entries: int = 500, gather_s: float = 0.002) -> None:
        self._send = send
        self.gather_s = gather_s
        self.max_entries = max_entries
        self._seq = 0
        self._pending: list[tuple[int, ProgressEntry]] = []
        self._flying_from = 0  # first sequence number of the message in flight (0: none)
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.messages = 0  # messages sent (a figure for tests and benchmarks)
        # step updates from the pipeline's thread, taken on the loop a moment (``gather_s``)
        # after the first: a whole batch step lands before (one message, and one wake-up of
        # the loop per step, not per job)
        self._inbox: deque[tuple[ProgressReporter, int, int]] = deque()
        self._scheduled = False

    def from_thread(
        self, reporter: ProgressReporter, step: int, total: int, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._inbox.append((reporter, step, total))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon_threadsafe(loop.call_later, self.gather_s, self._take_inbox)

    def take_inbox(self) -> None:
        """On the loop's thread: hand the step updates waiting in the inbox to their jobs."""
        while self._inbox:
            reporter, step, total = self._inbox.popleft()
            reporter.report(step_percent(step, total), step, total)

    def _take_inbox(self) -> None:
        self._scheduled = False  # before taking: an update appended later schedules again
        self.take_inbox()

    def add(self, entry: ProgressEntry) -> int:
        """On the loop's thread; the entry's sequence number (for :meth:`wait`)."""
        self._seq += 1
        self._pending.append((self._seq, entry))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self._seq

    def drop(self, job_id: uuid.UUID) -> None:
        """Forget a job's entries not sent yet (it ended without waiting for them)."""
        self._pending = [(s, e) for s, e in self._pending if e.job_id != job_id]

    def _waiting(self, seq: int) -> bool:
        if self._pending and self._pending[0][0] <= seq:
            return True
        return 0 < self._flying_from <= seq

    async def wait(self, seq: int) -> None:
        """Until every entry up to ``seq`` was sent (or given up)."""
        while self._waiting(seq):
            await self._changed.wait()

    async def _run(self) -> None:
        while self._pending:
            await asyncio.sleep(0)  # what the rest of this tick reports joins the message
            cut = self.max_entries
            batch, self._pending = self._pending[:cut], self._pending[cut:]
            if not batch:
                continue
            self._flying_from = batch[0][0]
            try:
                await self._send([e for _, e in batch])
                self.messages += 1
            except Exception as exc:  # noqa: BLE001 - progress is best effort
                log.warning("progress event not published", error=str(exc), jobs=len(batch))
            finally:
                self._flying_from = 0
                self._changed.set()
                self._changed = asyncio.Event()

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()


class ProgressReporter:
    """Owns one job's progress. ``report_from_thread`` may be called from any thread; what
    passes the throttle goes to the worker's hub."""

    def __init__(
        self,
        hub: ProgressHub,
        entry: Callable[[int, int | None, int | None], ProgressEntry],
        loop: asyncio.AbstractEventLoop,
        min_interval: float,
        min_delta: int = 1,
        start_delay: float = 0.0,
    ) -> None:
        self._hub = hub
        self._entry = entry
        self._loop = loop
        self._throttle = ProgressThrottle(min_interval, min_delta=min_delta)
        self._start_delay = start_delay
        self._held: tuple[asyncio.TimerHandle, ProgressEntry] | None = None  # the 0 % start
        self._last = 0  # the hub's sequence number of this job's last entry
        self._job_id: uuid.UUID | None = None
        self.published: list[int] = []  # the percents handed to the hub

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
            entry = self._entry(percent, step, total)
            self._job_id = entry.job_id
            if self._held is not None:  # a later step came first: the start goes now
                self._hand_over(self._drop_held())
            elif not self.published and percent == 0 and self._start_delay > 0:
                timer = self._loop.call_later(self._start_delay, self._release_start)
                self._held = (timer, entry)
                return
            self._hand_over(entry)

    def _release_start(self) -> None:
        self._hand_over(self._drop_held())

    def _hand_over(self, entry: ProgressEntry | None) -> None:
        """To the hub (a start dropped meanwhile is None: nothing)."""
        if entry is not None:
            self._last = self._hub.add(entry)
            self.published.append(entry.progress)

    def _drop_held(self) -> ProgressEntry | None:
        """Forget the held start (if any); returns it."""
        if self._held is None:
            return None
        (timer, entry), self._held = self._held, None
        timer.cancel()
        return entry

    def report_from_thread(self, step: int, total: int) -> None:
        percent, t = step_percent(step, total), self._throttle
        # a cheap look from the pipeline's thread first: most steps would not pass anyway
        if t.last_at is not None and step != 0:
            if percent - t.last_percent < t.min_delta:
                return
            if t.clock() - t.last_at < t.min_interval:
                return
        self._hub.from_thread(self, step, total, self._loop)

    async def close(self) -> None:
        """Until this job's entries are sent (a start still held never is: the job ended).
        Step updates the pipeline's thread left in the hub's inbox (taken ``gather_s`` later)
        are taken first: a fast job's last steps must not go out after its end."""
        self._hub.take_inbox()
        self._drop_held()
        await self._hub.wait(self._last)

    async def flush(self, timeout: float = 30) -> None:
        """``close``, best effort: progress that cannot be sent is only logged."""
        try:
            await asyncio.wait_for(self.close(), timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - progress is best effort
            log.warning("progress events not flushed", error=repr(exc))

    def cancel(self) -> None:
        self._drop_held()
        if self._job_id is not None:
            self._hub.drop(self._job_id)
