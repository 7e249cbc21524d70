"""``GET /api/events`` (server-sent events) and ``POST /api/events/token``.

The stream carries the caller's events only, from the durable log
(:mod:`sorami_gateway.events.log`), each with its ``id``:

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

At most ``max_streams_per_user`` open streams per user and API process: one more is refused
with 429 (:class:`~sorami_gateway.events.slots.TooManyStreams`).

Resume: ``Last-Event-ID`` header (what EventSource sends on reconnect), or ``?last_event_id=``.
Without either, the stream starts at "now". Auth: ``Authorization: Bearer <JWT>``, or
``?stream_token=`` from ``POST /api/events/token`` (never a JWT in the URL).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sorami_shared.logging import get_logger

from ..infra.auth import MISSING_TOKEN, Authenticator, AuthError
from ..rest.deps import (
    Component,
    CurrentUser,
    EngineDep,
    Sessions,
    SettingsDep,
    authenticator_component,
)
from ..rest.errors import UNAUTHENTICATED, error_response
from . import stream_tokens
from .hub import EventHub
from .slots import TooManyStreams
from .stream import stream_events, stream_start

hub_component: Component[EventHub] = Component("event_hub")

log = get_logger(__name__)

router = APIRouter(prefix="/api", tags=["events"], responses=UNAUTHENTICATED)

MAX_EVENT_ID_DIGITS = 18
STREAM_RETRY_AFTER_S = 5
_bearer = HTTPBearer(auto_error=False, description="JWT; or use ?stream_token=")


class StreamToken(BaseModel):
    stream_token: str
    expires_in: int
    url: str


@router.post("/events/token", response_model=StreamToken)
async def stream_token(user_id: CurrentUser, settings: SettingsDep) -> StreamToken:
    """A short-lived token for `GET /api/events?stream_token=...` (EventSource cannot send
    headers). It opens the event stream only; it is checked when the stream opens."""
    token, ttl = stream_tokens.issue(settings, user_id)
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
    settings: SettingsDep,
    authenticator: Annotated[Authenticator, Depends(authenticator_component)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    stream_token: Annotated[str | None, Query(max_length=4096)] = None,
) -> str:
    if stream_token is not None:
        return stream_tokens.verify(settings, stream_token)
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthError("missing bearer token or stream_token", MISSING_TOKEN)
    return await authenticator.user_id(credentials.credentials)


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "The caller's events"},
        422: {"description": "Malformed Last-Event-ID / last_event_id"},
        429: {"description": "The caller holds max_streams_per_user open streams already"},
    },
)
async def events(
    request: Request,
    settings: SettingsDep,
    sessions: Sessions,
    engine: EngineDep,
    hub: Annotated[EventHub, Depends(hub_component)],
    user_id: Annotated[str, Depends(_stream_user)],
    last_event_id: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """Server-sent events: the caller's status changes, progress, outcomes and notifications
    as they happen. Reconnect with `Last-Event-ID` to get what was missed."""
    header = request.headers.get("last-event-id")
    resume: int | None = None
    if header is not None and header.strip():
        resume = _parse_event_id(header, ("header", "Last-Event-ID"))
    elif last_event_id is not None:
        resume = _parse_event_id(last_event_id, ("query", "last_event_id"))
    # The cap first (a refusal costs no query), then the start, before answering 200: a
    # database outage answers 503, not a dead stream.
    try:
        slot = hub.slots.take(user_id, settings.max_streams_per_user)
    except TooManyStreams as exc:
        log.info("event stream refused", user_id=user_id, cap=exc.cap)
        return error_response(429, str(exc), {"Retry-After": str(STREAM_RETRY_AFTER_S)})
    try:
        async with sessions() as session:
            start, resync = await stream_start(session, user_id, resume)
    except BaseException:
        slot.release()
        raise
    log.info("event stream opened", user_id=user_id, after=start, resumed=resume is not None)
    return StreamingResponse(
        stream_events(settings, engine, hub, slot, start, resync),
        media_type="text/event-stream",
        headers={
            "Cache-Control": "no-cache, no-transform",
            "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
            "Connection": "keep-alive",
        },
    )
