"""How a job ends: the one step from an exception to a terminal outcome, and the terminal
event each outcome publishes (``completed``, ``failed`` or ``cancelled``, with an id derived
from the job so a redelivered job publishes the very same event).

An exception that must leave the message for redelivery (shutdown, a retryable failure
before the last attempt) is re-raised instead: the shared consumer then requeues it, or
leaves it unacknowledged.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from sorami_shared.events import (
    Envelope,
    FailureCode,
    FileInfo,
    GenerationCancelled,
    GenerationCompleted,
    GenerationFailed,
    GenerationRequested,
)
from sorami_shared.logging import get_logger
from sorami_shared.messaging import Delivery

from .devices import is_out_of_memory
from .errors import JobAborted, JobFailed, TransientError
from .progress import ProgressReporter
from .runner import Aborter
from .timings import JobTimings

log = get_logger(__name__)


@dataclass(eq=False)
class JobRun:
    """One delivery of one job, from its arrival to its terminal event."""

    envelope: Envelope[Any]
    delivery: Delivery
    aborter: Aborter = field(default_factory=Aborter)
    timings: JobTimings = field(init=False)
    reporter: ProgressReporter | None = None
    started: bool = False  # it may have written files
    ticket: Any = None  # its place in the batcher; ticket.batch_id once on the device
    previews: Any = None  # its PreviewSender (preview_jobs.py), when it makes previews

    def __post_init__(self) -> None:
        self.timings = JobTimings(queued_at=self.envelope.time)

    @property
    def job(self) -> GenerationRequested:
        return self.envelope.data


@dataclass(frozen=True)
class Completed:
    files: list[FileInfo]
    seed: int


@dataclass(frozen=True)
class Cancelled:
    pass


Outcome = Completed | JobFailed | Cancelled


def outcome_of(exc: BaseException, run: JobRun, max_job_s: float) -> Outcome:
    """What ``exc`` means for the job; re-raises what must leave it for redelivery."""
    last = run.delivery.is_last_attempt
    if isinstance(exc, JobFailed):
        return exc
    if isinstance(exc, JobAborted):
        if run.aborter.cancelled:
            return Cancelled()
        if run.aborter.timed_out:
            return JobFailed(
                FailureCode.TIMED_OUT,
                f"the generation ran longer than {max_job_s:g}s and was stopped;"
                " try fewer steps, frames or a smaller size",
            )
        log.warning("job aborted by shutdown; left unacknowledged for redelivery")
        raise asyncio.CancelledError from None
    if isinstance(exc, Exception) and is_out_of_memory(exc):
        log.error("out of memory", error=str(exc)[:500])
        p = run.job.params
        frames = f" x{p.num_frames} frames" if p.num_frames else ""
        return JobFailed(
            FailureCode.OUT_OF_MEMORY,
            f"out of GPU memory generating {p.width}x{p.height} x{p.num_images}{frames};"
            " try a smaller size or fewer images/frames",
        )
    if isinstance(exc, TransientError):
        if not last:
            log.warning(
                "transient failure, requeueing", error=exc.reason, attempt=run.delivery.attempt
            )
            raise exc
        return JobFailed(exc.code, f"{exc.reason} (gave up after {run.delivery.attempt} attempts)")
    if not isinstance(exc, Exception) or not last:
        raise exc
    log.error("job failed on its last attempt", exc_info=exc)
    return JobFailed(
        FailureCode.INTERNAL,
        f"generation failed after {run.delivery.attempt} attempts: {type(exc).__name__}: {exc}",
    )


def terminal_data(
    run: JobRun, outcome: Outcome, files_left: bool, heard_at: float | None
) -> GenerationCompleted | GenerationFailed | GenerationCancelled:
    job, aborter = run.job, run.aborter
    ids = job.job_ref()
    if isinstance(outcome, Completed):
        return GenerationCompleted(
            **ids,
            model=job.params.model,
            seed=outcome.seed,
            files=outcome.files,
            duration_ms=int(run.timings.elapsed_s() * 1000),
        )
    if isinstance(outcome, JobFailed):
        log.warning("job failed", code=outcome.code.value, reason=outcome.reason)
        return GenerationFailed(**ids, code=outcome.code, reason=outcome.reason[:2000])
    log.info(
        "job cancelled",
        stopped_after_step=aborter.steps_done,
        total_steps=job.params.num_inference_steps,
        steps_after_signal=sum(1 for t in aborter.step_ended_at if heard_at and t > heard_at),
        signal_heard_at=heard_at,
        stopped_at=time.time(),
        step_ended_at=[round(t, 4) for t in aborter.step_ended_at],
        files_left=files_left,
    )
    return GenerationCancelled(
        **ids,
        stopped_after_step=aborter.steps_done,
        total_steps=job.params.num_inference_steps,
        files_left=files_left,
    )
