"""structlog set-up: JSON in production, console in development, with the job's context
(``job_id``, ``user_id``, ``correlation_id``) bound through contextvars so every line a
service writes while handling a job carries it."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

# Keys never written to a log line, whatever a caller binds (tokens, signatures, secrets).
_REDACTED_KEYS = frozenset(
    {"authorization", "token", "password", "secret", "signature", "sig", "access_key", "secret_key"}
)


def _redact(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key in list(event_dict):
        if key.lower() in _REDACTED_KEYS:
            event_dict[key] = "[redacted]"
    return event_dict


def configure_logging(service: str, *, fmt: str = "json", level: str = "INFO") -> None:
    """Configure structlog and route stdlib logging (uvicorn, aio-pika...) through it."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiormq", "aio_pika"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)


@contextmanager
def job_context(
    *, job_id: object = None, user_id: object = None, correlation_id: object = None, **extra: Any
) -> Iterator[None]:
    """Bind the job's identifiers to every log line written inside the block."""
    values = {
        k: str(v)
        for k, v in {"job_id": job_id, "user_id": user_id, "correlation_id": correlation_id}.items()
        if v is not None
    }
    values.update({k: v for k, v in extra.items() if v is not None})
    with structlog.contextvars.bound_contextvars(**values):
        yield


get_logger = structlog.get_logger
