"""Prometheus metrics every process shares (messaging), and serving ``/metrics``.

Every name starts with ``sorami_``; label values come from closed sets (queue names, event
types, outcomes), never from job or user ids. Each service adds its own in
``sorami_<service>/metrics.py``; all of them live in prometheus-client's default registry, which
:mod:`sorami_shared.metrics_server` exposes on a port of its own (never on the public API's
port).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, disable_created_metrics

from .logging import get_logger

log = get_logger(__name__)

disable_created_metrics()  # no *_created series: noise for dashboards

EVENTS_PUBLISHED = Counter(
    "sorami_events_published_total",
    "Events the broker confirmed, by event type (= routing key)",
    ["event_type"],
)
EVENTS_PUBLISH_FAILED = Counter(
    "sorami_events_publish_failed_total",
    "Publishes the broker nacked, returned or did not confirm in time, by event type",
    ["event_type"],
)
MESSAGES_CONSUMED = Counter(
    "sorami_messages_consumed_total",
    "Deliveries a consumer settled, by queue and outcome (acked, requeued, dead_lettered)",
    ["queue", "outcome"],
)
MESSAGES_DEAD_LETTERED = Counter(
    "sorami_messages_dead_lettered_total",
    "Deliveries sent to the queue's DLQ by this consumer, by reason (unparseable, rejected)",
    ["queue", "reason"],
)
MESSAGES_RETRIED_IN_PLACE = Counter(
    "sorami_messages_retried_in_place_total",
    "Handler re-runs in place during an infrastructure outage (not counted as redeliveries)",
    ["queue"],
)
# Sampled from the broker by the relay (sorami_shared.queue_stats): one consistent source for
# dashboards and alerts, with or without the RabbitMQ Prometheus plugin.
QUEUE_MESSAGES = Gauge(
    "sorami_queue_messages",
    "Messages ready in a queue or its DLQ (passive declare), sampled by the relay",
    ["queue"],
)
QUEUE_CONSUMERS = Gauge(
    "sorami_queue_consumers",
    "Consumers attached to a queue (0 on generator.requests: no generator consuming)",
    ["queue"],
)


def published(event_type: str) -> None:
    EVENTS_PUBLISHED.labels(event_type).inc()


def publish_failed(event_type: str) -> None:
    EVENTS_PUBLISH_FAILED.labels(event_type).inc()


def settled(queue: str, outcome: str) -> None:
    MESSAGES_CONSUMED.labels(queue, outcome).inc()


def dead_lettered(queue: str, reason: str) -> None:
    MESSAGES_DEAD_LETTERED.labels(queue, reason).inc()
    MESSAGES_CONSUMED.labels(queue, "dead_lettered").inc()


def retried_in_place(queue: str) -> None:
    MESSAGES_RETRIED_IN_PLACE.labels(queue).inc()
