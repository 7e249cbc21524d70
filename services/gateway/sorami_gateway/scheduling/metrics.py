"""The scheduler's backlog, per model (a bounded label: the registry's models): what waits in
PostgreSQL, the queue of record. Autoscalers read it (the broker queue only ever holds the
jobs in flight), e.g. the KEDA prometheus triggers of deploy/k8s/overlays/gpu and per-model."""

from __future__ import annotations

from prometheus_client import Gauge

QUEUED = Gauge(
    "sorami_scheduler_queued_jobs",
    "Jobs waiting in the scheduler's queue (PostgreSQL), not yet released to a generator",
    ["model"],
)


def record_backlog(models: list[str], queued: dict[str, int]) -> None:
    for model in models:
        QUEUED.labels(model).set(queued.get(model, 0))
