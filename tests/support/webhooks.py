"""Webhook test helpers: a receiver (a real HTTP server on 127.0.0.1 in the test's event
loop, answering what the test scripts) and a deliverer running in the background."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sorami_gateway.infra.db import create_engine
from sorami_gateway.settings import GatewaySettings
from sorami_gateway.workers.webhooks import WebhookWorker, build_worker
from sorami_shared.storage import make_storage
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.integration.security.live_server import serve


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()
    status: int = 0  # what the receiver answered
    payload: Any = None  # the verified body, for a receiver that verifies on receipt


@dataclass
class Receiver:
    """Answers each POST with the next scripted answer (a status code, or a callable
    ``(request) -> Response``), then ``default``."""

    url: str = ""
    script: list[Any] = field(default_factory=list)
    default: int = 200
    received: list[Received] = field(default_factory=list)
    hold: asyncio.Event | None = None  # set: requests wait on it before answering

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        got = Received(request.url.path, dict(request.headers), body, time.monotonic())
        self.received.append(got)
        if self.hold is not None:
            await self.hold.wait()
        response = self.answer(request)
        got.status = response.status_code
        return response

    def answer(self, request: Request) -> Response:
        answer = self.script.pop(0) if self.script else self.default
        return answer(request) if callable(answer) else Response(status_code=answer)


@contextlib.asynccontextmanager
async def receiving(receiver: Receiver | None = None, port: int = 0) -> AsyncIterator[Receiver]:
    receiver = receiver or Receiver()
    app = Starlette(routes=[Route("/{path:path}", receiver.handle, methods=["POST"])])
    async with serve(app, port) as base_url:  # type: ignore[arg-type]
        receiver.url = base_url
        yield receiver


@contextlib.asynccontextmanager
async def running_deliverer(
    settings: GatewaySettings, *, resolver: Any = None
) -> AsyncIterator[WebhookWorker]:
    db = create_engine(settings, pool_size=3, max_overflow=2)
    storage = make_storage(settings)
    worker = build_worker(settings, db, storage, resolver=resolver)
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.stop.set()
        try:
            await asyncio.wait_for(task, 15)
        finally:
            await storage.close()
            await db.dispose()


class FakeResolver:
    """The resolver seam in tests: each host answers the next answer of its list (the last
    one from then on; an answer may list several addresses, "a,b"); an unknown host does not
    resolve. Records what it was asked."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = {host: list(seq) for host, seq in answers.items()}
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(-2, "Name or service not known")
        seq = self.answers[host]
        return (seq.pop(0) if len(seq) > 1 else seq[0]).split(",")
