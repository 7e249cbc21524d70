"""One ``generation.requested`` → files in storage → one terminal event.

The happy path is :meth:`JobProcessor._generate`; whatever it raises goes through one step,
:func:`~.outcomes.outcome_of`, and every outcome through one publish, :meth:`_end`. The ack
policy lives in the shared consumer: returning acks (after the terminal event was confirmed,
since ``publish`` awaits the broker's confirm), raising requeues, ``Reject`` dead-letters,
cancellation leaves the message unacknowledged for redelivery. The pipeline call itself is
shared with compatible jobs by the :class:`~.batcher.Batcher`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from sorami_shared.events import (
    Envelope,
    FailureCode,
    GenerationProgressBatch,
    GenerationRequested,
    ProgressEntry,
    derived_id,
    new_event,
)
from sorami_shared.logging import get_logger
from sorami_shared.messaging import Delivery, Reject
from sorami_shared.storage import Storage

from . import metrics
from .batcher import Batcher, Ticket
from .batching import BatchLimits
from .cancels import CancelRegistry
from .encoding import encoding_for
from .errors import JobFailed
from .inputs import plan_with_inputs
from .outcomes import Cancelled, Completed, JobRun, Outcome, outcome_of, terminal_data
from .outputs import encode_outputs
from .pipelines import PipelineCache
from .preview_jobs import preview_parts
from .progress import ProgressHub, ProgressReporter, min_delta_for
from .requests import call_parameters, invalid, plan_call, resolve_model
from .runner import BatchItem
from .settings import GeneratorSettings, ModelSpec
from .store import JobStorage

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
        batcher: Batcher | None = None,
        publish_live: Publish | None = None,
    ) -> None:
        """``publish_live``: for live previews (best effort, nothing awaited; else
        ``publish``)."""
        self.settings = settings
        self.cancels = cancels or CancelRegistry(
            memory_s=settings.cancel_memory_s, max_entries=settings.cancel_memory_max
        )
        self.publish = publish
        self.publish_live = publish_live or publish
        self.files = JobStorage(storage, settings)
        self.pipelines = pipelines
        self.registry = registry if registry is not None else settings.registry
        self.batcher = batcher or Batcher(
            BatchLimits.resolve(settings, cuda=pipelines.placement.is_cuda),
            buckets=settings.compile_buckets,
        )
        self._runs: set[JobRun] = set()
        self.progress = ProgressHub(self._publish_progress)
        self._min_delta = min_delta_for(settings.progress_max_events)

    def abort_all(self) -> None:
        """Shutdown gave up waiting: every job in hand stops and stays for redelivery."""
        for run in list(self._runs):
            run.aborter.abort()

    def abort_waiting(self) -> None:
        """Shutdown: jobs not on the device yet stop now and stay for redelivery."""
        for run in list(self._runs):
            if not run.started and (run.ticket is None or run.ticket.batch_id is None):
                run.aborter.abort()

    async def handle(self, envelope: Envelope[Any], delivery: Delivery) -> None:
        if not isinstance(envelope.data, GenerationRequested):
            raise Reject(f"the generator handles generation.requested, not {envelope.type}")
        run = JobRun(envelope, delivery)
        job = run.job
        if self.cancels.signalled_at(job.job_id) is not None:
            log.info("job cancelled while queued; never run")
            return await self._end(run, Cancelled())
        self._runs.add(run)
        self.cancels.track(job.job_id, run.aborter)
        deadline = asyncio.get_running_loop().call_later(
            self.settings.max_job_s, run.aborter.time_out
        )
        try:
            try:
                outcome: Outcome = await self._generate(run)
            except BaseException as exc:  # noqa: BLE001 - outcome_of re-raises what must stay
                outcome = outcome_of(exc, run, self.settings.max_job_s)
            await self._end(run, outcome)
        finally:
            deadline.cancel()
            self.cancels.untrack(job.job_id)
            self._runs.discard(run)
            if run.reporter is not None:
                run.reporter.cancel()
            if run.ticket is not None:
                self.batcher.release(run.ticket)

    async def _generate(self, run: JobRun) -> Completed:
        job, t = run.job, run.timings
        spec = resolve_model(self.registry, job.params.model)
        plan_call(job, spec)  # refuse what the model cannot take before any work
        # On-call needs a line before the work: a job killed mid-way has no other.
        log.info(
            "job started",
            model=job.params.model,
            source=spec.source,
            kind=job.kind.value,
            attempt=run.delivery.attempt,
            max_attempts=run.delivery.max_attempts,
        )
        run.reporter = self._reporter(run)  # its first event (0 %) when the batch starts
        t0 = time.perf_counter()
        loaded_before = job.params.model in self.pipelines
        loaded = await self.pipelines.get(job.params.model)
        t.load_s = 0.0 if loaded_before else time.perf_counter() - t0
        if job.params.inputs:  # img2img / inpainting: the same weights through from_pipe
            loaded, call = await plan_with_inputs(self.files.storage, loaded, job, spec)
        else:
            call = plan_call(job, spec, call_parameters(loaded.pipe))
        item = BatchItem(call, run.reporter.report_from_thread, run.aborter)
        previews = preview_parts(
            job, spec, call, self.settings, self.publish_live, run.envelope.correlationid
        )
        if previews is not None:
            item.schedule, run.previews = previews
            item.on_preview = run.previews.offer_from_thread
        ticket = run.ticket = Ticket(job.user_id, job.job_id, loaded, item)
        t0 = time.perf_counter()
        try:
            pixels = await self.batcher.submit(ticket)
        except (ValueError, TypeError) as exc:  # the pipeline refused this job's input
            raise invalid(f"{job.params.model!r} cannot take these parameters: {exc}") from exc
        run.started = True
        t.model_s, t.wait_s = ticket.model_s, time.perf_counter() - t0 - ticket.model_s
        structlog.contextvars.bind_contextvars(
            batch_id=ticket.batch_id, batch_size=ticket.batch_size
        )
        t0 = time.perf_counter()
        encoding = encoding_for(job, spec, self.settings, call.seed)
        encoded = await asyncio.to_thread(
            encode_outputs,
            job.kind,
            job.job_id,
            pixels,
            call.fps,
            encoding,
            self.settings.encode_threads,
        )
        t.encode_s, t0 = time.perf_counter() - t0, time.perf_counter()
        run.aborter.raise_if_stopped()
        await self.files.put(encoded.blobs)
        t.storage_s = time.perf_counter() - t0
        t.bytes = sum(len(b.data) for b in encoded.blobs)
        metrics.outputs_written(job.kind.value, t.encode_s, t.storage_s)
        run.aborter.raise_if_stopped()  # heard after the last step: its files must not stay
        return Completed(encoded.files, call.seed)

    async def _end(self, run: JobRun, outcome: Outcome) -> None:
        """The one publish of a job's terminal event (after its progress is flushed)."""
        files_left = False
        if run.previews is not None:
            run.previews.close()  # no preview after the terminal event
        if isinstance(outcome, Cancelled):
            if run.started:
                files_left = not await self.files.remove(run.job)
        else:
            await self._flush_progress(run)
        t0 = time.perf_counter()
        data = terminal_data(run, outcome, files_left, self.cancels.signalled_at(run.job.job_id))
        await self.publish(
            new_event(
                data,
                source=SOURCE,
                correlation_id=run.envelope.correlationid,
                event_id=derived_id(data.event_type, run.job.job_id),
            )
        )
        run.timings.events_s += time.perf_counter() - t0
        kind = run.job.kind.value
        if isinstance(outcome, JobFailed):
            metrics.job_ended(kind, "failed", outcome.code.value)
            if outcome.code == FailureCode.OUT_OF_MEMORY:
                metrics.out_of_memory(run.job.params.model)
                self.pipelines.evict_all_but(run.job.params.model)
        else:
            metrics.job_ended(kind, "completed" if isinstance(outcome, Completed) else "cancelled")
        if isinstance(outcome, Completed):
            run.timings.log_completed(run.job, run.delivery.attempt)

    def _reporter(self, run: JobRun) -> ProgressReporter:
        job, correlation_id = run.job, run.envelope.correlationid

        def entry(percent: int, step: int | None, total: int | None) -> ProgressEntry:
            return ProgressEntry(
                **job.job_ref(),
                progress=percent,
                step=step,
                total_steps=total,
                correlation_id=correlation_id,
            )

        return ProgressReporter(
            self.progress,
            entry,
            asyncio.get_running_loop(),
            self.settings.progress_min_interval_s,
            self._min_delta,
            self.settings.progress_start_delay_s,
        )

    async def _publish_progress(self, entries: list[ProgressEntry]) -> None:
        """One ``generation.progress`` (version 2) for every job in ``entries``."""
        data = GenerationProgressBatch(jobs=entries)
        correlation_id = entries[0].correlation_id or "progress"
        await self.publish(new_event(data, source=SOURCE, correlation_id=correlation_id))

    async def _flush_progress(self, run: JobRun) -> None:
        if run.reporter is not None:
            t0 = time.perf_counter()
            await run.reporter.flush()
            run.timings.events_s += time.perf_counter() - t0
