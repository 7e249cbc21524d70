"""The gateway app served by a real uvicorn on a free port, in the test's event loop (so that
streaming routes can be read for a bounded time, which httpx.ASGITransport cannot do)."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import uvicorn
from fastapi import FastAPI


@contextlib.asynccontextmanager
async def serve(app: FastAPI, port: int = 0) -> AsyncIterator[str]:
    """Yield the base URL of ``app`` served on 127.0.0.1 (lifespan included), on ``port``
    (default: a free one)."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 15
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            task.result() if task.done() else None
            raise AssertionError("uvicorn did not start")
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


@dataclass
class Answer:
    status: int
    headers: httpx.Headers
    text: str


async def fetch(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    json: object = None,
    files: dict[str, tuple[str, bytes, str]] | None = None,
    headers: dict[str, str] | None = None,
    stream_for_s: float = 0.5,
) -> Answer:
    """One request; an event stream is read for ``stream_for_s`` then closed."""
    async with client.stream(method, url, json=json, files=files, headers=headers) as response:
        chunks: list[bytes] = []
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(stream_for_s):
                    async for chunk in response.aiter_bytes():
                        chunks.append(chunk)
        else:
            chunks.append(await response.aread())
        return Answer(
            response.status_code, response.headers, b"".join(chunks).decode("utf-8", "replace")
        )


@contextlib.contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """``serve`` on its own event loop in a background thread, for synchronous clients."""
    ready: queue.Queue[str | BaseException] = queue.Queue()
    stop = threading.Event()

    async def main() -> None:
        try:
            async with serve(app) as base_url:
                ready.put(base_url)
                await asyncio.to_thread(stop.wait)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting test
            ready.put(exc)

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    started = ready.get(timeout=30)
    if isinstance(started, BaseException):
        raise started
    try:
        yield started
    finally:
        stop.set()
        thread.join(30)
