"""The device loop: forms each pipeline call from the ready jobs and runs it on the launch
thread, one call at a time (docs/batching.md).

Jobs hand in a :class:`Ticket` and await their own pixels; encoding and upload then run in
their own tasks while the next call is already on the device. A job stopped while waiting or
running (cancel, time limit, shutdown) gets ``JobAborted`` at once; the call stops at its
next step only when every job in it is stopped. A failing call of several jobs is split in
halves and retried, so out-of-memory or one job's bad input never fails its batch-mates.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
import uuid
from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from sorami_shared.logging import get_logger

from .batching import BatchLimits, FairQueue, call_key, images_of
from .devices import is_out_of_memory, release_memory
from .errors import JobAborted
from .pipelines import LoadedPipeline
from .runner import BatchItem, run_batch
from .stats import DeviceStats

log = get_logger(__name__)


@dataclass(eq=False)
class Ticket:
    user: str
    job_id: uuid.UUID
    loaded: LoadedPipeline
    item: BatchItem
    future: asyncio.Future[np.ndarray] = field(default_factory=asyncio.Future)
    arrived: float = field(default_factory=time.monotonic)
    batch_id: str | None = None
    batch_size: int = 0
    model_s: float = 0.0
    handed_back: bool = False  # has its pixels, still encoding or storing

    @property
    def key(self) -> Hashable:
        return call_key(self.item.call)

    @property
    def images(self) -> int:
        return images_of(self.item.call)

    def settle(self, pixels: np.ndarray | None = None, error: BaseException | None = None) -> bool:
        """False if the job was stopped meanwhile (its result is dropped)."""
        if self.future.done():
            return False
        if error is not None:
            self.future.set_exception(error)
        else:
            self.future.set_result(pixels)
        return True


class Batcher:
    def __init__(self, limits: BatchLimits, *, buckets: list[int] | None = None) -> None:
        self.limits = limits
        self.buckets = sorted(buckets or [])
        self.stats = DeviceStats()
        self._queue: FairQueue[Ticket] = FairQueue()
        self._wake = asyncio.Event()
        self._handed_back = 0  # jobs out of the device, still encoding or storing
        self._launch = ThreadPoolExecutor(1, thread_name_prefix="sorami-launch")
        self._task: asyncio.Task[None] | None = None

    async def submit(self, ticket: Ticket) -> np.ndarray:
        """The job's pixels once its batch ran; ``JobAborted`` as soon as it is stopped."""
        if self._task is None:
            # A context of its own: the batch's log lines must not carry the first job's ids.
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="sorami-device-loop", context=contextvars.Context()
            )
        ticket.item.aborter.when_stopped(lambda: self._drop(ticket))
        if ticket.item.aborter.aborted:
            raise JobAborted("stopped before it ran")
        self._queue.add(ticket)
        self._wake.set()
        return await ticket.future

    def release(self, ticket: Ticket) -> None:
        """The job is over (its pixels stored, or given up): it no longer makes the worker busy."""
        if ticket.handed_back:
            ticket.handed_back = False
            self._handed_back -= 1

    def _drop(self, ticket: Ticket) -> None:
        self._queue.remove(ticket)
        ticket.settle(error=JobAborted("stopped"))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for ticket in list(self._queue):
            self._drop(ticket)
        self._launch.shutdown(wait=False)

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            await self._run_batch(batch, uuid.uuid4().hex[:12])

    async def _next_batch(self) -> list[Ticket]:
        """At once when the worker is idle or the call is full; else when its oldest job has
        waited ``window_s`` since the device became free."""
        while True:
            timeout = None
            if (head := self._queue.head()) is not None:
                max_images = head.loaded.spec.max_batch_images or self.limits.max_batch_images
                batch = self._queue.plan(self.limits.max_batch, max_images)
                due = min(t.arrived for t in batch) + self.limits.window_s
                idle = self._handed_back == 0
                full = FairQueue.is_full(batch, self.limits.max_batch, max_images)
                if idle or full or time.monotonic() >= due:
                    self._queue.take(batch)
                    return batch
                timeout = due - time.monotonic()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _run_batch(self, batch: list[Ticket], batch_id: str) -> None:
        batch = [t for t in batch if not t.future.done()]
        if not batch:
            return
        loaded = batch[0].loaded
        images = sum(t.item.call.outputs for t in batch)
        pad_to = self._bucket(images) if loaded.compiled else 0
        for t in batch:
            t.batch_id, t.batch_size = batch_id, len(batch)
            # PROCESSING starts on the device: a job waiting here is still PENDING to the
            # gateway, so its watchdog's processing lease measures running time only.
            t.item.on_step(0, t.item.call.steps)
        log.info(
            "batch started",
            batch_id=batch_id,
            batch_size=len(batch),
            images=images,
            padded_to=pad_to or images,
            model=loaded.name,
            job_ids=[str(t.job_id) for t in batch],
        )
        started = time.monotonic()
        try:
            outputs = await asyncio.get_running_loop().run_in_executor(
                self._launch, run_batch, loaded, [t.item for t in batch], pad_to
            )
        except Exception as exc:  # noqa: BLE001 - each job's handler decides what it means
            self.stats.ran(started, time.monotonic(), len(batch))
            if len(batch) == 1 or isinstance(exc, JobAborted):
                for t in batch:
                    t.settle(error=exc)
                return
            if is_out_of_memory(exc):
                release_memory()
            log.warning("batch failed; retrying its halves", batch_id=batch_id, error=repr(exc))
            half = len(batch) // 2
            await self._run_batch(batch[:half], f"{batch_id}a")
            await self._run_batch(batch[half:], f"{batch_id}b")
            return
        ended = time.monotonic()
        self.stats.ran(started, ended, len(batch))
        for t, pixels in zip(batch, outputs, strict=True):
            t.model_s = ended - started
            if t.settle(pixels):  # counted before the next batch is formed: the worker is busy
                t.handed_back = True
                self._handed_back += 1

    def _bucket(self, images: int) -> int:
        return next((b for b in self.buckets if b >= images), images)
