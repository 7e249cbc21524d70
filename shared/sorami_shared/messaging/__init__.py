"""Publishing and consuming events with an explicit delivery policy.

- :mod:`.publisher`: persistent, ``mandatory`` messages; a publish returns only once the
  broker confirmed it (:class:`PublishFailed` otherwise).
- :mod:`.policy`: what a handler may say (:class:`Reject`), what it is told
  (:class:`Delivery`), backoff, and what counts as a transient infrastructure error. The bus
  knows only broker and OS errors; a service with a database passes its own classifier
  (built with :func:`transient_classifier`), so this package imports no database driver.
- :mod:`.consumer`: the ack policy applied to one delivery (:meth:`Consumer.handle`).
- :mod:`.bus`: :class:`EventBus`, one robust connection per process.
"""

from .batches import BatchConsumer, BatchHandler, Item, log_each
from .bus import EventBus
from .consumer import Consumer
from .policy import (
    DEFAULT_OUTAGE_WINDOW_S,
    TRANSIENT_ERRORS,
    Delivery,
    Handler,
    Reject,
    TransientClassifier,
    backoff_seconds,
    is_transient,
    transient_classifier,
)
from .publisher import (
    HEADER_CORRELATION_ID,
    HEADER_JOB_ID,
    HEADER_USER_ID,
    PublishFailed,
    to_message,
)

__all__ = [
    "DEFAULT_OUTAGE_WINDOW_S",
    "HEADER_CORRELATION_ID",
    "HEADER_JOB_ID",
    "HEADER_USER_ID",
    "TRANSIENT_ERRORS",
    "BatchConsumer",
    "BatchHandler",
    "Consumer",
    "Delivery",
    "EventBus",
    "Handler",
    "Item",
    "PublishFailed",
    "Reject",
    "TransientClassifier",
    "backoff_seconds",
    "is_transient",
    "log_each",
    "to_message",
    "transient_classifier",
]
