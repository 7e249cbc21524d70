"""The notifier's Prometheus metrics: notifications delivered and failed, by channel.

``channel`` is where a notification goes: ``inbox`` today (stored, then announced with
``notification.created`` for the gateway to serve). Webhooks will count under
``channel="webhook"`` with the same two metrics, so dashboards and alerts need no change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import Counter
from sorami_shared.events import Envelope
from sorami_shared.messaging import Delivery

DELIVERED = Counter(
    "sorami_notifications_delivered_total",
    "Notifications delivered, by channel (inbox; later webhook) and generation outcome; "
    "duplicate deliveries of the same notification count once per delivery",
    ["channel", "outcome"],
)
FAILED = Counter(
    "sorami_notifications_failed_total",
    "Delivery attempts that failed (the message is requeued or dead-lettered), by channel",
    ["channel"],
)

Handler = Callable[[Envelope[Any], Delivery], Awaitable[None]]


def delivered(channel: str, outcome: str) -> None:
    DELIVERED.labels(channel, outcome).inc()


def counting_failures(handler: Handler, *, channel: str) -> Handler:
    """``handler``, counting each attempt that raised (a ``Reject`` too) as failed."""

    async def counted(envelope: Envelope[Any], delivery: Delivery) -> None:
        try:
            await handler(envelope, delivery)
        except Exception:
            FAILED.labels(channel).inc()
            raise

    return counted
