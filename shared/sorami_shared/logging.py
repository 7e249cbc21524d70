"""structlog set-up: JSON in production, console in development, with the job's context
(``job_id``, ``user_id``, ``correlation_id``) bound through contextvars so every line a
service writes while handling a job carries it."""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

# Keys never written to a log line, whatever a caller binds (tokens, signatures, secrets).
_REDACTED_KEYS = frozenset(
    {"authorization", "token", "password", "secret", "signature", "sig", "access_key", "secret_key"}
)
# ... nor keys ending like these (``jwt_secret``, ``s3_secret_access_key``, ``api_key``...).
_REDACTED_SUFFIXES = (
    "password",
    "secret",
    "_token",
    "signature",
    "access_key",
    "secret_key",
    "api_key",
    "authorization",
    "credentials",
)
# Secrets inside free text (an error message, a URL, a traceback): replaced where they appear.
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # an Authorization value (``Basic`` as the header spells it, so prose is left alone)
    (re.compile(r"\b([Bb]earer|BEARER|Basic)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 [redacted]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
    (
        re.compile(
            r"(?i)\b([\w-]*token|signature|sig|x-amz-signature|x-amz-credential|api_key"
            r"|password|secret)=[^&\s\"'<>]+"
        ),
        r"\1=[redacted]",
    ),
    # user:password@ in a URL (database and broker URLs)
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^:/@\s\"']+):[^@/\s\"']+@"), r"\1:[redacted]@"),
)


# Each pattern above needs one of these: text without any (most log values) is left as it is
# after one scan instead of four.
_MAYBE_SECRET = re.compile(r"earer|EARER|Basic|eyJ|=|://")


def scrub(text: str) -> str:
    """``text`` with bearer tokens, JWTs, signed-URL signatures and URL passwords replaced."""
    if _MAYBE_SECRET.search(text) is None:
        return text
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _sensitive_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in _REDACTED_KEYS or lowered.endswith(_REDACTED_SUFFIXES)


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {
            k: "[redacted]" if isinstance(k, str) and _sensitive_key(k) else _scrub_value(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub_value(v) for v in value]
    return value


def _redact(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key in list(event_dict):
        if _sensitive_key(key):
            event_dict[key] = "[redacted]"
        elif key not in ("exc_info", "_record", "_from_structlog"):
            event_dict[key] = _scrub_value(event_dict[key])
    return event_dict


def _redact_traceback(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    # Everything else went through _redact already (bound values and foreign records alike).
    if isinstance(event_dict.get("exception"), str):
        event_dict["exception"] = scrub(event_dict["exception"])
    return event_dict


class _StdoutLogger:
    """structlog's final logger: each rendered line written and flushed to the process's
    stdout of the moment (a test's capture too), under one lock shared with nothing slow.
    The services' own lines take this path; the stdlib's ``logging`` machinery (a record, the
    handler's lock, a second pass of the processors in ``ProcessorFormatter``) cost as much as
    rendering the line itself, once per line in every consumer's per-event log."""

    _lock = threading.Lock()

    def __init__(self, name: str | None = None) -> None:
        self.name = name or "root"  # read by ``add_logger_name``

    def msg(self, message: str) -> None:
        with self._lock:
            out = sys.stdout
            out.write(message + "\n")
            out.flush()

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


def configure_logging(service: str, *, fmt: str = "json", level: str = "INFO") -> None:
    """Configure structlog (its lines rendered and written directly: :class:`_StdoutLogger`)
    and route stdlib logging (uvicorn, aio-pika...) through the same processors."""
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
    final: list[Any] = [
        structlog.processors.format_exc_info,
        _redact_traceback,  # the formatted traceback may quote a secret
        renderer,
    ]
    structlog.configure(
        processors=[*shared, *final],
        logger_factory=_StdoutLogger,
        # drops a disabled level before any processor runs
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiormq/aio_pika are noisy; botocore at DEBUG logs canonical requests and signatures.
    for noisy in ("aiormq", "aio_pika", "botocore", "aiobotocore", "boto3", "s3transfer"):
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
