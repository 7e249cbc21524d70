"""The deliverer's Prometheus metrics: each recorded attempt by its outcome (``succeeded``,
``pending`` = failed and retried later, ``failed`` = past the horizon or refused, ``disabled``
= 410 or endpoint gone) and the receivers' response time. Labels: closed sets only."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ATTEMPTS = Counter(
    "sorami_webhook_attempts_total",
    "Webhook delivery attempts recorded, by outcome (succeeded, pending, failed, disabled)",
    ["outcome"],
)
RESPONSE_SECONDS = Histogram(
    "sorami_webhook_response_seconds",
    "Time from sending a webhook to the receiver's answer (or the timeout)",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def attempt_recorded(outcome: str, duration_ms: float | None) -> None:
    ATTEMPTS.labels(outcome).inc()
    if duration_ms is not None:
        RESPONSE_SECONDS.observe(duration_ms / 1000)
