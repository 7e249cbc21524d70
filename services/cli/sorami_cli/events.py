"""The ``sorami`` command line's event-stream client (``GET /api/events``, server-sent events).

:class:`EventStream` opens the stream with the bearer header, reads up to its ``ready`` frame
(so that a job submitted afterwards cannot be missed), then yields :class:`SseEvent` objects;
a dropped connection is resumed with ``Last-Event-ID`` (bounded attempts), so nothing is lost.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

TERMINAL_EVENTS = {
    "generation.completed": "COMPLETED",
    "generation.failed": "FAILED",
    "generation.cancelled": "CANCELLED",
    "generation.deleted": "DELETED",
}


@dataclass
class SseEvent:
    event: str = "message"
    data: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


def parse_sse(lines: Iterable[str]) -> Iterator[SseEvent | None]:
    """Server-sent event frames from text lines; ``None`` for a comment (heartbeat), so a
    caller can check its deadline while the stream is quiet."""
    event, data, event_id = "message", [], None
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                try:
                    payload = json.loads("\n".join(data))
                except ValueError:
                    payload = {"raw": "\n".join(data)}
                yield SseEvent(
                    event, payload if isinstance(payload, dict) else {"value": payload}, event_id
                )
            event, data, event_id = "message", [], None
            continue
        if line.startswith(":"):
            yield None
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id" and value.isdigit():
            event_id = int(value)


class StreamUnavailable(Exception):
    """The stream could not be opened (the caller may fall back to polling)."""


class EventStream:
    def __init__(
        self,
        http: httpx.Client,
        *,
        last_event_id: int | None = None,
        read_timeout: float = 60.0,
        max_reconnects: int = 10,
    ) -> None:
        self.http = http
        self.last_id = last_event_id
        self.read_timeout = read_timeout
        self.max_reconnects = max_reconnects
        self._context: Any = None
        self._events: Iterator[SseEvent | None] | None = None

    def open(self) -> None:
        """Connect and read up to ``ready``; raises :class:`StreamUnavailable`."""
        self.close()
        headers = {"Accept": "text/event-stream"}
        if self.last_id is not None:
            headers["Last-Event-ID"] = str(self.last_id)
        timeout = httpx.Timeout(10.0, read=self.read_timeout)
        try:
            self._context = self.http.stream("GET", "/api/events", headers=headers, timeout=timeout)
            response = self._context.__enter__()
            if response.status_code != 200:
                response.read()
                raise StreamUnavailable(f"HTTP {response.status_code}: {response.text[:200]}")
            self._events = parse_sse(response.iter_lines())
            for item in self._events:
                if item is not None and item.event == "ready":
                    if self.last_id is None:
                        self.last_id = int(item.data.get("last_event_id", 0))
                    return
        except httpx.HTTPError as exc:
            self.close()
            raise StreamUnavailable(f"{type(exc).__name__}: {exc}") from exc
        self.close()
        raise StreamUnavailable("the stream ended before it was ready")

    def close(self) -> None:
        if self._context is not None:
            try:
                self._context.__exit__(None, None, None)
            except httpx.HTTPError:
                pass
        self._context = self._events = None

    def __iter__(self) -> Iterator[SseEvent | None]:
        """Events (``None`` on heartbeats); reconnects with ``Last-Event-ID`` when dropped."""
        failures = 0
        while True:
            try:
                if self._events is None:
                    self.open()
                assert self._events is not None
                for item in self._events:
                    if item is not None and item.id is not None:
                        self.last_id = item.id
                    failures = 0
                    yield item
            except (httpx.HTTPError, StreamUnavailable):
                pass
            # the server ended the stream (restart, max stream age) or the connection dropped
            self.close()
            failures += 1
            if failures > self.max_reconnects:
                raise StreamUnavailable("the event stream keeps dropping")
            time.sleep(min(5.0, 0.2 * 2**failures))
