"""What a webhook may be: its events and its URL, checked when a request or an endpoint
names them (the address it resolves to is checked at delivery time: :mod:`.addresses`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field
from sorami_shared.settings import Environment

from ..webhook_settings import WebhookSettings


class WebhookEvent(StrEnum):
    started = "started"
    progress = "progress"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"
    # a user endpoint's only (not a job's webhook_url): every job of a batch is finished
    batch_completed = "batch.completed"


DEFAULT_EVENTS = [WebhookEvent.completed, WebhookEvent.failed, WebhookEvent.cancelled]


def check_url(value: str, *, http: bool, max_length: int) -> str:
    """``value`` if it may be a webhook URL; ValueError (a 422 on the field) otherwise."""
    if len(value) > max_length:
        raise ValueError(f"must be at most {max_length} characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError("is not a valid URL") from None
    schemes = {"https", "http"} if http else {"https"}
    if parts.scheme not in schemes:
        raise ValueError(f"must be an {' or '.join(sorted(schemes))} URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain credentials")
    if parts.fragment:
        raise ValueError("must not contain a fragment")
    if port == 0:
        raise ValueError("must not use port 0")
    if any(ord(c) < 33 or ord(c) == 127 for c in value):
        raise ValueError("must not contain spaces or control characters")
    return value


def url_type(settings: WebhookSettings, environment: Environment) -> Any:
    http, max_length = settings.http_allowed(environment), settings.url_max_length
    return Annotated[
        str,
        Field(max_length=max_length, description="where the job's events are POSTed"),
        AfterValidator(lambda v: check_url(v, http=http, max_length=max_length)),
    ]


def _distinct(events: list[WebhookEvent] | None) -> list[WebhookEvent] | None:
    if events is not None and not events:
        raise ValueError("must name at least one event")
    return list(dict.fromkeys(events)) if events else events


def _job_events(events: list[WebhookEvent] | None) -> list[WebhookEvent] | None:
    if events and WebhookEvent.batch_completed in events:
        raise ValueError("batch.completed is a webhook endpoint's event, not a job's")
    return events


EventsType = Annotated[
    list[WebhookEvent] | None,
    Field(max_length=len(WebhookEvent), description="default: completed, failed, cancelled"),
    AfterValidator(_distinct),
]
JobEventsType = Annotated[EventsType, AfterValidator(_job_events)]


def request_fields(settings: WebhookSettings, environment: Environment) -> dict[str, Any]:
    """The optional fields that ``POST /api/{kind}/generate`` adds for webhooks."""
    return {
        "webhook_url": (url_type(settings, environment) | None, None),
        "webhook_events": (JobEventsType, None),
    }


FIELDS = ("webhook_url", "webhook_events")


def redacted(url: str) -> str:
    """The URL as logs may show it: scheme, host and port only (a path or query may be a
    credential, e.g. a chat webhook's token)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
