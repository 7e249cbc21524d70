"""A test client for ``GET /api/events``: reads the stream in a background task and keeps
every frame (with its receive time), so tests can wait for what they expect with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Frame:
    event: str
    data: dict[str, Any]
    id: int | None
    received_at: float  # time.time()


@dataclass
class SseReader:
    frames: list[Frame] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    status_code: int | None = None
    ended: bool = False

    @property
    def events(self) -> list[Frame]:
        """Frames with an id (the log's events; not ready/resync)."""
        return [f for f in self.frames if f.id is not None]

    @property
    def last_id(self) -> int | None:
        ids = [f.id for f in self.events]
        return ids[-1] if ids else None

    def for_job(self, job_id: str) -> list[Frame]:
        return [f for f in self.events if f.data.get("job_id") == job_id]

    async def wait_for(
        self,
        check: Callable[[SseReader], Any],
        timeout: float = 20.0,  # noqa: ASYNC109
    ) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = check(self)
            if result:
                return result
            await asyncio.sleep(0.02)
        seen = [(f.id, f.event, f.data.get("status"), f.data.get("progress")) for f in self.frames]
        raise AssertionError(f"stream condition not met within {timeout}s; frames: {seen}")


async def _read(response: httpx.Response, reader: SseReader) -> None:
    event, data, event_id = "message", [], None
    async for line in response.aiter_lines():
        if not line:
            if data:
                reader.frames.append(
                    Frame(event, json.loads("\n".join(data)), event_id, time.time())
                )
            event, data, event_id = "message", [], None
        elif line.startswith(":"):
            reader.comments.append(line)
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                event_id = int(value)
    reader.ended = True


@contextlib.asynccontextmanager
async def sse_stream(
    base_url: str,
    *,
    token: str | None = None,
    stream_token: str | None = None,
    last_event_id: int | None = None,
) -> AsyncIterator[SseReader]:
    """Open the stream, wait for its ``ready`` frame, read in the background; close on exit."""
    headers = {"Accept": "text/event-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    params = {"stream_token": stream_token} if stream_token else None
    reader = SseReader()
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(10, read=60)) as http,
        http.stream("GET", "/api/events", headers=headers, params=params) as response,
    ):
        reader.status_code = response.status_code
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        task = asyncio.create_task(_read(response, reader))
        try:
            await reader.wait_for(lambda r: any(f.event == "ready" for f in r.frames), 10)
            yield reader
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await task
