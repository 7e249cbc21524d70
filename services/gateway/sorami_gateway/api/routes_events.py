"""``GET /api/events`` (server-sent events) and ``POST /api/events/token``.

The stream carries the caller's events only, from the durable log
(:mod:`sorami_gateway.user_events`), each with its ``id``:

- ``generation.status`` / ``generation.progress`` / ``generation.completed`` /
  ``generation.failed`` / ``generation.cancelled`` / ``generation.deleted``: data is the
  ``/status`` shape (``job_id``, ``kind``, ``status``, ``progress``, ``error``, ``error_code``)
  plus ``step``/``total_steps`` for progress and ``files`` (count) for completed;
- ``notification.created``: data is the notification item of ``GET /api/notifications``;
- every data object also has ``logged_at`` (when the event was committed).

Control frames: ``retry:`` first; ``event: ready`` (no id) with ``{"last_event_id": N}``, the
position the stream starts after; ``event: resync`` (no id) when the client's
``Last-Event-ID`` is older than the retention window (it missed events) or beyond the newest
event (an id this log never gave; the stream then starts at "now"): either way it should
re-read the state with the REST API; ``: heartbeat`` comment lines every ``events_heartbeat_s``.

Resume: ``Last-Event-ID`` header (what EventSource sends on reconnect), or ``?last_event_id=``.
Without either, the stream starts at "now". Auth: ``Authorization: Bearer <JWT>``, or
``?stream_token=`` from ``POST /api/events/token`` (never a JWT in the URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sorami_shared.logging import get_logger
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from .. import stream_tokens, user_events
from ..auth import MISSING_TOKEN, AuthError
from ..event_hub import EventHub
from .deps import AppContext, Context, CurrentUser
from .errors import UNAUTHENTICATED

log = get_logger(__name__)

router = APIRouter(prefix="/api", tags=["events"], responses=UNAUTHENTICATED)

MAX_EVENT_ID_DIGITS = 18
_bearer = HTTPBearer(auto_error=False, description="JWT; or use ?stream_token=")


class StreamToken(BaseModel):
    stream_token: str
    expires_in: int
    url: str


@router.post("/events/token", response_model=StreamToken)
async def stream_token(user_id: CurrentUser, context: Context) -> StreamToken:
    """A short-lived token for `GET /api/events?stream_token=...` (EventSource cannot send
    headers). It opens the event stream only; it is checked when the stream opens."""
    token, ttl = stream_tokens.issue(context.settings, user_id)
    return StreamToken(stream_token=token, expires_in=ttl, url=f"/api/events?stream_token={token}")


def _parse_event_id(value: str, where: tuple[str, str]) -> int:
    value = value.strip()
    if not value.isdigit() or len(value) > MAX_EVENT_ID_DIGITS:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": where,
                    "msg": "must be an event id (a non-negative integer) from this stream",
                    "input": value[:40],
                }
            ]
        )
    return int(value)


async def _stream_user(
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    stream_token: Annotated[str | None, Query(max_length=4096)] = None,
) -> str:
    if stream_token is not None:
        return stream_tokens.verify(context.settings, stream_token)
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthError("missing bearer token or stream_token", MISSING_TOKEN)
    return await context.authenticator.user_id(credentials.credentials)


def _frame(event_id: int | None, event: str, data: dict[str, Any]) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "The caller's events"},
        422: {"description": "Malformed Last-Event-ID / last_event_id"},
    },
)
async def events(
    request: Request,
    context: Context,
    user_id: Annotated[str, Depends(_stream_user)],
    last_event_id: Annotated[str | None, Query(max_length=40)] = None,
) -> StreamingResponse:
    """Server-sent events: the caller's status changes, progress, outcomes and notifications
    as they happen. Reconnect with `Last-Event-ID` to get what was missed."""
    header = request.headers.get("last-event-id")
    resume: int | None = None
    if header is not None and header.strip():
        resume = _parse_event_id(header, ("header", "Last-Event-ID"))
    elif last_event_id is not None:
        resume = _parse_event_id(last_event_id, ("query", "last_event_id"))
    # Resolve the start before answering 200: a database outage answers 503, not a dead stream.
    async with context.sessions() as session:
        start, resync = await _start(session, user_id, resume)
    hub: EventHub = request.app.state.event_hub
    log.info("event stream opened", user_id=user_id, after=start, resumed=resume is not None)
    return StreamingResponse(
        _stream(context, hub, user_id, start, resync),
        media_type="text/event-stream",
        headers={
            "Cache-Control": "no-cache, no-transform",
            "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
            "Connection": "keep-alive",
        },
    )


async def _start(session: AsyncSession, user_id: str, resume: int | None) -> tuple[int, str | None]:
    """Where the stream starts, and why the client must resync (None: it need not)."""
    head = await user_events.head(session, user_id)  # its own transaction: first
    if resume is None:
        return head, None
    if resume > head:  # an id this log never gave (e.g. kept across a database reset)
        return head, "Last-Event-ID is beyond the newest event; the stream starts now"
    if resume < await user_events.purged_through(session):
        return resume, "events before this point were purged"
    return resume, None


async def _stream(
    context: AppContext, hub: EventHub, user_id: str, cursor: int, resync: str | None
) -> AsyncIterator[str]:
    s = context.settings
    loop = asyncio.get_running_loop()
    opened = loop.time()
    sent = 0
    yield f"retry: {s.events_retry_ms}\n\n"
    if resync:
        yield _frame(None, "resync", {"reason": resync})
    yield _frame(None, "ready", {"last_event_id": cursor})
    last_write = loop.time()
    try:
        with hub.subscription(user_id) as wake:
            while not hub.closing.is_set() and loop.time() - opened < s.events_max_stream_s:
                wake.clear()  # before the query: a NOTIFY during it is not lost
                try:
                    async with context.sessions() as session:
                        batch = await user_events.after(
                            session, user_id, cursor, s.events_batch_size
                        )
                except (OSError, OperationalError, InterfaceError, DBAPIError) as exc:
                    log.warning("event stream ends: database unavailable", error=repr(exc))
                    return  # the client reconnects with Last-Event-ID
                for item in batch:
                    data = {**item.data, "logged_at": item.created_at.isoformat()}
                    yield _frame(item.id, item.type, data)
                    cursor = item.id
                    sent += 1
                if batch:
                    last_write = loop.time()
                if len(batch) >= s.events_batch_size:
                    continue
                now = loop.time()
                wait_s = min(
                    s.events_poll_interval_s,
                    max(0.0, last_write + s.events_heartbeat_s - now),
                    max(0.0, opened + s.events_max_stream_s - now),
                )
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait_s):
                        await wake.wait()
                if loop.time() - last_write >= s.events_heartbeat_s:
                    yield ": heartbeat\n\n"
                    last_write = loop.time()
    finally:
        log.info(
            "event stream closed",
            user_id=user_id,
            events=sent,
            open_s=round(loop.time() - opened, 1),
        )
