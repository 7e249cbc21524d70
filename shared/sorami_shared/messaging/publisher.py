"""Publishing: persistent messages, ``mandatory``, confirmed by the broker before returning;
or, for what is worthless once late (live previews), :func:`publish_live`: transient, not
``mandatory``, nothing awaited."""

from __future__ import annotations

from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractExchange

from .. import metrics
from ..events import Envelope
from ..topology import routing_key

HEADER_CORRELATION_ID = "x-correlation-id"
HEADER_JOB_ID = "x-job-id"
HEADER_USER_ID = "x-user-id"


class PublishFailed(RuntimeError):
    """The broker did not confirm the message (nacked, returned as unroutable, or timed out)."""


def to_message(envelope: Envelope[Any], *, persistent: bool = True) -> aio_pika.Message:
    headers: dict[str, Any] = {HEADER_CORRELATION_ID: envelope.correlationid}
    if envelope.job_id is not None:
        headers[HEADER_JOB_ID] = str(envelope.job_id)
    if envelope.user_id is not None:
        headers[HEADER_USER_ID] = envelope.user_id
    return aio_pika.Message(
        body=envelope.to_json(),
        content_type="application/json",
        delivery_mode=(
            aio_pika.DeliveryMode.PERSISTENT if persistent else aio_pika.DeliveryMode.NOT_PERSISTENT
        ),
        message_id=str(envelope.id),
        correlation_id=envelope.correlationid,
        type=envelope.type,
        app_id=envelope.source,
        timestamp=envelope.time,
        headers=headers,
    )


async def publish_confirmed(
    exchange: AbstractExchange, envelope: Envelope[Any], *, timeout: float
) -> None:
    """Publish ``envelope`` under its routing key (its type; with the model for a request);
    raise :class:`PublishFailed` unless acked."""
    try:
        confirmation = await exchange.publish(
            to_message(envelope), routing_key=routing_key(envelope), mandatory=True, timeout=timeout
        )
    except aiormq.exceptions.DeliveryError as exc:
        metrics.publish_failed(envelope.type)
        raise PublishFailed(f"{envelope.type} {envelope.id} returned: {exc}") from exc
    except (TimeoutError, aiormq.exceptions.AMQPError, RuntimeError) as exc:
        metrics.publish_failed(envelope.type)
        raise PublishFailed(f"{envelope.type} {envelope.id} not confirmed: {exc!r}") from exc
    if not isinstance(confirmation, aiormq.spec.Basic.Ack):
        metrics.publish_failed(envelope.type)
        raise PublishFailed(f"{envelope.type} {envelope.id} nacked by the broker")
    metrics.published(envelope.type)


async def publish_live(exchange: AbstractExchange, envelope: Envelope[Any]) -> None:
    """Best effort, on a channel without confirms: a transient message, dropped by the broker
    when nothing is bound to its key (no API process listening), never confirmed; raise
    :class:`PublishFailed` only when it could not be written (the connection is down)."""
    try:
        await exchange.publish(
            to_message(envelope, persistent=False), routing_key(envelope), mandatory=False
        )
    except (aiormq.exceptions.AMQPError, RuntimeError, OSError) as exc:
        metrics.publish_failed(envelope.type)
        raise PublishFailed(f"{envelope.type} {envelope.id} not sent: {exc!r}") from exc
    metrics.published(envelope.type)
