"""The gateway's Prometheus metrics: jobs (created, finished, latency, queue wait) and the
watchdog; the outbox's are in :mod:`sorami_gateway.outbox.metrics` (the relay's alone). HTTP
metrics come from prometheus-fastapi-instrumentator (:func:`instrument`).

Job metrics are recorded only once their transaction COMMITS (:func:`_after_commit`): a
rolled-back create or a projection retried after a database error counts once, like the rows.
Labels: kind, model (the allow-list's names), outcome, failure code: closed sets.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from prometheus_client import Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncSession

from .tables import Status

if TYPE_CHECKING:
    from fastapi import FastAPI

    from .tables import Generation

# seconds: from a tiny CPU image (< 1 s) to a long GPU video (tens of minutes)
LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 3600)

JOBS_CREATED = Counter(
    "sorami_jobs_created_total",
    "Generations accepted (committed), by kind and model",
    ["kind", "model"],
)
JOBS_FINISHED = Counter(
    "sorami_jobs_finished_total",
    "Generations that reached a terminal status, by kind, outcome (completed, failed, "
    "cancelled) and code (the failure code; = outcome otherwise)",
    ["kind", "outcome", "code"],
)
JOB_LATENCY = Histogram(
    "sorami_job_latency_seconds",
    "Created to terminal (end-to-end), by kind and outcome",
    ["kind", "outcome"],
    buckets=LATENCY_BUCKETS,
)
JOB_QUEUE_WAIT = Histogram(
    "sorami_job_queue_wait_seconds",
    "Created to started (the first progress a generator reported), by kind",
    ["kind"],
    buckets=LATENCY_BUCKETS,
)
WATCHDOG_JOBS = Counter(
    "sorami_watchdog_jobs_total", "Stalled jobs the watchdog re-sent or failed", ["action"]
)

_PENDING = "sorami_metrics_pending"


def _after_commit(session: AsyncSession, record: Callable[[], None]) -> None:
    sync = session.sync_session
    if _PENDING not in sync.info:
        sync.info[_PENDING] = []

        def flush(s: object) -> None:
            for fn in sync.info.pop(_PENDING, []):
                fn()
            sync.info[_PENDING] = []

        def drop(s: object) -> None:
            sync.info[_PENDING] = []

        sa.event.listen(sync, "after_commit", flush)
        sa.event.listen(sync, "after_rollback", drop)
    sync.info[_PENDING].append(record)


def job_created(kind: str, model: str) -> None:
    """A job was created (its one-statement transaction has committed)."""
    JOBS_CREATED.labels(kind, model).inc()


def job_changed(session: AsyncSession, generation: Generation) -> None:
    """After a state change of ``generation`` (refreshed): its queue wait if it just started,
    its outcome and latency if it just ended (a terminal status never changes again). "Just
    started": ``started_at`` was set by this very change (both it and ``updated_at`` are the
    transaction's ``now()``)."""
    kind, created = generation.kind, generation.created_at
    started, ended = generation.started_at, generation.completed_at
    status = Status(generation.status)
    code = generation.error_code or status.value.lower()
    records: list[Callable[[], None]] = []
    if started is not None and started == generation.updated_at and created is not None:
        records.append(lambda: JOB_QUEUE_WAIT.labels(kind).observe(_seconds(created, started)))
    if status.terminal:
        outcome = status.value.lower()
        records.append(JOBS_FINISHED.labels(kind, outcome, code).inc)
        if created is not None and ended is not None:
            latency = _seconds(created, ended)
            records.append(lambda: JOB_LATENCY.labels(kind, outcome).observe(latency))
    for record in records:
        _after_commit(session, record)


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())


def watchdog_swept(requeued: int, failed: int) -> None:
    WATCHDOG_JOBS.labels("requeued").inc(requeued)
    WATCHDOG_JOBS.labels("failed").inc(failed)


def instrument_http(app: FastAPI) -> None:
    """HTTP requests by route template and status, and their latency; served on the metrics
    port only, never on the API's own port."""
    from prometheus_fastapi_instrumentator import Instrumentator

    Instrumentator(
        should_group_status_codes=False,
        excluded_handlers=["/healthz", "/readyz"],
    ).instrument(
        app,
        metric_namespace="sorami",
        latency_lowr_buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    )
