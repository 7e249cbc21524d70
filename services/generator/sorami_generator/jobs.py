"""One ``generation.requested`` → files in storage → ``generation.completed`` (or ``failed``).

The ack policy lives in the shared consumer: returning acks (after the terminal event was
confirmed, since ``publish`` awaits the broker's confirm), raising requeues, ``Reject``
dead-letters, cancellation leaves the message unacknowledged for redelivery.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sorami_shared.events import (
    Envelope,
    FailureCode,
    GenerationCancelled,
    GenerationCompleted,
    GenerationFailed,
    GenerationProgress,
    GenerationRequested,
    derived_id,
    new_event,
)
from sorami_shared.logging import get_logger
from sorami_shared.messaging import Delivery, Reject
from sorami_shared.storage import Storage, StorageError

from . import metrics
from .cancels import CancelRegistry
from .devices import is_out_of_memory
from .errors import JobAborted, JobFailed, TransientError
from .outputs import Blob, encode_outputs
from .pipelines import PipelineCache
from .progress import ProgressReporter
from .requests import call_parameters, plan_call, resolve_model
from .runner import Aborter, run_in_thread
from .settings import GeneratorSettings, ModelSpec

SOURCE = "sorami-generator"
log = get_logger(__name__)

Publish = Callable[[Envelope[Any]], Awaitable[None]]


class JobProcessor:
    def __init__(
        self,
        settings: GeneratorSettings,
        publish: Publish,
        storage: Storage,
        pipelines: PipelineCache,
        registry: dict[str, ModelSpec] | None = None,
        cancels: CancelRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.cancels = cancels or CancelRegistry(
            memory_s=settings.cancel_memory_s, max_entries=settings.cancel_memory_max
        )
        self.publish = publish
        self.storage = storage
        self.pipelines = pipelines
        self.registry = registry if registry is not None else settings.registry
        # One pipeline call at a time per device; with prefetch > 1 the next job's generation
        # overlaps the previous job's encoding and upload.
        self._device_lock = asyncio.Lock()
        self._aborters: set[Aborter] = set()
        self._storage_ready = False

    def abort_all(self) -> None:
        """Shutdown gave up waiting: make running pipeline calls stop at their next step."""
        for aborter in list(self._aborters):
            aborter.abort()

    async def handle(self, envelope: Envelope[Any], delivery: Delivery) -> None:
        job = envelope.data
        if not isinstance(job, GenerationRequested):
            raise Reject(f"the generator handles generation.requested, not {envelope.type}")
        if self.cancels.signalled_at(job.job_id) is not None:
            log.info("job cancelled while queued; never run")
            await self._publish_cancelled(envelope, job, None)
            return
        timings = JobTimings(queued_at=envelope.time)
        aborter = Aborter()
        self._aborters.add(aborter)
        self.cancels.track(job.job_id, aborter)
        deadline = asyncio.get_running_loop().call_later(self.settings.max_job_s, aborter.time_out)
        reporter: ProgressReporter | None = None
        try:
            try:
                spec = resolve_model(self.registry, job.params.model)
                plan_call(job, spec)  # refuse what the model cannot take before any work
                # On-call needs a line before the work: a job killed mid-way has no other.
                log.info(
                    "job started",
                    model=job.params.model,
                    source=spec.source,
                    kind=job.kind.value,
                    attempt=delivery.attempt,
                    max_attempts=delivery.max_attempts,
                )
                reporter = self._reporter(envelope, job)
                reporter.report(0, 0, job.params.num_inference_steps, force=True)
                files, seed = await self._generate(job, spec, reporter, aborter, timings)
                if aborter.cancelled:  # heard after the last step: its files must not stay
                    raise JobAborted("cancelled")
                await self._finish_progress(reporter, timings)
                await self._publish_completed(envelope, job, files, seed, timings)
                timings.log_completed(job, delivery)
            except JobFailed as failure:
                await self._finish_progress(reporter, timings)
                await self._publish_failed(envelope, job, failure.code, failure.reason)
            except JobAborted:
                if aborter.cancelled:
                    await self._publish_cancelled(envelope, job, aborter)
                    return
                if aborter.timed_out:
                    await self._finish_progress(reporter, timings)
                    await self._publish_failed(
                        envelope,
                        job,
                        FailureCode.TIMED_OUT,
                        f"the generation ran longer than {self.settings.max_job_s:g}s and was"
                        " stopped; try fewer steps, frames or a smaller size",
                    )
                    return
                log.warning("job aborted by shutdown; left unacknowledged for redelivery")
                raise asyncio.CancelledError from None
            except TransientError as exc:
                if not delivery.is_last_attempt:
                    log.warning(
                        "transient failure, requeueing", error=exc.reason, attempt=delivery.attempt
                    )
                    raise
                await self._finish_progress(reporter, timings)
                await self._publish_failed(
                    envelope,
                    job,
                    exc.code,
                    f"{exc.reason} (gave up after {delivery.attempt} attempts)",
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_out_of_memory(exc):
                    log.error("out of memory", error=str(exc)[:500])
                    metrics.out_of_memory(job.params.model)
                    self.pipelines.evict_all_but(job.params.model)
                    await self._finish_progress(reporter, timings)
                    p = job.params
                    await self._publish_failed(
                        envelope,
                        job,
                        FailureCode.OUT_OF_MEMORY,
                        f"out of GPU memory generating {p.width}x{p.height}"
                        f" x{p.num_images}{f' x{p.num_frames} frames' if p.num_frames else ''};"
                        " try a smaller size or fewer images/frames",
                    )
                    return
                if not delivery.is_last_attempt:
                    raise
                log.exception("job failed on its last attempt")
                await self._finish_progress(reporter, timings)
                await self._publish_failed(
                    envelope,
                    job,
                    FailureCode.INTERNAL,
                    f"generation failed after {delivery.attempt} attempts:"
                    f" {type(exc).__name__}: {exc}",
                )
        finally:
            deadline.cancel()
            self.cancels.untrack(job.job_id)
            self._aborters.discard(aborter)
            if reporter is not None:
                reporter.cancel()

    # -- stages -----------------------------------------------------------------------------

    async def _generate(
        self,
        job: GenerationRequested,
        spec: ModelSpec,
        reporter: ProgressReporter,
        aborter: Aborter,
        timings: JobTimings,
    ) -> tuple[list[Any], int]:
        async with self._device_lock:
            t0 = time.perf_counter()
            loaded_before = job.params.model in self.pipelines
            loaded = await self.pipelines.get(job.params.model)
            timings.load_s = 0.0 if loaded_before else time.perf_counter() - t0
            call = plan_call(job, spec, call_parameters(loaded.pipe))
            t0 = time.perf_counter()
            try:
                pixels = await run_in_thread(loaded, call, reporter.report_from_thread, aborter)
            except (ValueError, TypeError) as exc:
                if is_out_of_memory(exc):
                    raise
                raise JobFailed(
                    FailureCode.INVALID_PARAMETERS,
                    f"{job.params.model!r} cannot take these parameters: {exc}",
                ) from exc
            timings.model_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        encoded = await asyncio.to_thread(encode_outputs, job.kind, job.job_id, pixels, call.fps)
        timings.encode_s = time.perf_counter() - t0
        if aborter.cancelled:
            raise JobAborted("cancelled")
        t0 = time.perf_counter()
        await self._store(encoded.blobs)
        timings.storage_s = time.perf_counter() - t0
        timings.bytes = sum(len(b.data) for b in encoded.blobs)
        metrics.outputs_written(job.kind.value, timings.encode_s, timings.storage_s)
        return encoded.files, call.seed

    async def _store(self, blobs: list[Blob]) -> None:
        s = self.settings
        delay = s.storage_retry_backoff_s
        for attempt in range(1, s.storage_retry_attempts + 1):
            try:
                if not self._storage_ready:
                    await self.storage.ensure_ready()
                    self._storage_ready = True
                # Posters before their videos: a listed video's poster always exists.
                posters = [b for b in blobs if b.is_poster]
                for group in (posters, [b for b in blobs if not b.is_poster]):
                    await asyncio.gather(
                        *(self.storage.put(b.key, b.data, b.content_type) for b in group)
                    )
                return
            except StorageError as exc:
                if attempt == s.storage_retry_attempts:
                    raise TransientError(
                        FailureCode.STORAGE_UNAVAILABLE, f"storage unavailable: {exc}"
                    ) from exc
                log.warning(
                    "storage write failed, retrying", error=str(exc), attempt=attempt, in_s=delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, s.storage_retry_backoff_max_s)

    # -- events -----------------------------------------------------------------------------

    def _reporter(self, envelope: Envelope[Any], job: GenerationRequested) -> ProgressReporter:
        async def publish(percent: int, step: int | None, total: int | None) -> None:
            data = GenerationProgress(
                job_id=job.job_id,
                user_id=job.user_id,
                kind=job.kind,
                progress=percent,
                step=step,
                total_steps=total,
            )
            await self.publish(
                new_event(data, source=SOURCE, correlation_id=envelope.correlationid)
            )

        return ProgressReporter(
            publish, asyncio.get_running_loop(), self.settings.progress_min_interval_s
        )

    async def _finish_progress(
        self, reporter: ProgressReporter | None, timings: JobTimings
    ) -> None:
        if reporter is None:
            return
        t0 = time.perf_counter()
        try:
            await asyncio.wait_for(reporter.close(), timeout=30)
        except Exception as exc:  # noqa: BLE001 - progress is best effort
            log.warning("progress events not flushed", error=repr(exc))
        timings.events_s += time.perf_counter() - t0

    async def _publish_completed(
        self,
        envelope: Envelope[Any],
        job: GenerationRequested,
        files: list[Any],
        seed: int,
        timings: JobTimings,
    ) -> None:
        t0 = time.perf_counter()
        data = GenerationCompleted(
            job_id=job.job_id,
            user_id=job.user_id,
            kind=job.kind,
            model=job.params.model,
            seed=seed,
            files=files,
            duration_ms=int(timings.elapsed_s() * 1000),
        )
        await self.publish(
            new_event(
                data,
                source=SOURCE,
                correlation_id=envelope.correlationid,
                event_id=derived_id("generation.completed", job.job_id),
            )
        )
        timings.events_s += time.perf_counter() - t0
        metrics.job_ended(job.kind.value, "completed")

    async def _remove_written(self, job: GenerationRequested) -> bool:
        """Delete whatever this job may have stored; False if storage would not let us."""
        prefix = f"{job.kind.value}/{job.job_id}/"
        for attempt in range(1, self.settings.storage_retry_attempts + 1):
            try:
                await self.storage.delete_prefix(prefix)
                return True
            except StorageError as exc:
                log.warning(
                    "removing a cancelled job's files failed", error=str(exc), attempt=attempt
                )
                await asyncio.sleep(self.settings.storage_retry_backoff_s * attempt)
        return False

    async def _publish_cancelled(
        self, envelope: Envelope[Any], job: GenerationRequested, aborter: Aborter | None
    ) -> None:
        stopped_at = time.time()
        removed = await self._remove_written(job) if aborter is not None else True
        heard = self.cancels.signalled_at(job.job_id)
        steps_done = aborter.steps_done if aborter is not None else 0
        log.info(
            "job cancelled",
            stopped_after_step=steps_done,
            total_steps=job.params.num_inference_steps,
            steps_after_signal=(
                sum(1 for t in aborter.step_ended_at if heard is not None and t > heard)
                if aborter is not None
                else 0
            ),
            signal_heard_at=heard,
            stopped_at=stopped_at,
            step_ended_at=[round(t, 4) for t in aborter.step_ended_at] if aborter else [],
            files_left=not removed,
        )
        data = GenerationCancelled(
            job_id=job.job_id,
            user_id=job.user_id,
            kind=job.kind,
            stopped_after_step=steps_done,
            total_steps=job.params.num_inference_steps,
            files_left=not removed,
        )
        await self.publish(
            new_event(
                data,
                source=SOURCE,
                correlation_id=envelope.correlationid,
                event_id=derived_id("generation.cancelled", job.job_id),
            )
        )
        metrics.job_ended(job.kind.value, "cancelled")

    async def _publish_failed(
        self, envelope: Envelope[Any], job: GenerationRequested, code: FailureCode, reason: str
    ) -> None:
        log.warning("job failed", code=code.value, reason=reason)
        data = GenerationFailed(
            job_id=job.job_id, user_id=job.user_id, kind=job.kind, code=code, reason=reason[:2000]
        )
        await self.publish(
            new_event(
                data,
                source=SOURCE,
                correlation_id=envelope.correlationid,
                event_id=derived_id("generation.failed", job.job_id),
            )
        )
        metrics.job_ended(job.kind.value, "failed", code.value)


class JobTimings:
    """Where a job's time went: the pipeline call vs everything around it."""

    def __init__(self, queued_at: datetime) -> None:
        self.started = time.perf_counter()
        self.queue_s = max(0.0, (datetime.now(UTC) - queued_at).total_seconds())
        self.load_s = self.model_s = self.encode_s = self.storage_s = self.events_s = 0.0
        self.bytes = 0

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    def as_dict(self) -> dict[str, float]:
        total = self.elapsed_s()
        return {
            "queue_s": round(self.queue_s, 4),
            "load_s": round(self.load_s, 4),
            "model_s": round(self.model_s, 4),
            "encode_s": round(self.encode_s, 4),
            "storage_s": round(self.storage_s, 4),
            "events_s": round(self.events_s, 4),
            "total_s": round(total, 4),
            "overhead_s": round(total - self.model_s - self.load_s, 4),
        }

    def log_completed(self, job: GenerationRequested, delivery: Delivery) -> None:
        log.info(
            "job completed",
            model=job.params.model,
            kind=job.kind.value,
            attempt=delivery.attempt,
            bytes=self.bytes,
            **self.as_dict(),
        )
