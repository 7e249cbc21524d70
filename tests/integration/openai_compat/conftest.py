"""The gateway app in-process (the gateway tier's fixtures, reused) driven by the real
``openai`` SDK over an ASGI transport, and a stand-in for generator + projector that finishes
jobs through the real projection code."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import openai
import pytest
from sorami_gateway.app import create_app
from sorami_gateway.settings import GatewaySettings
from sorami_gateway.workers.projector import project
from sorami_shared.events import Kind
from sorami_shared.storage import make_storage

from tests.integration.gateway.conftest import (  # noqa: F401 - fixtures reused, not copied
    database_url,
    engine,
    make_settings,
    make_token,
    media_dir,
    sessions,
    settings,
)
from tests.integration.gateway.projection_events import completed, failed, video_files

PNG_1x1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
MP4_STUB = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 64


@contextlib.asynccontextmanager
async def openai_app(
    gateway_settings: GatewaySettings,
) -> AsyncIterator[Callable[..., openai.AsyncOpenAI]]:
    """Yields ``make(user=..., api_key=..., **client_options)`` → an SDK client on the app."""
    app = create_app(gateway_settings)
    async with app.router.lifespan_context(app):
        clients: list[openai.AsyncOpenAI] = []

        def make(user: str = "alice", *, api_key: str | None = None, **options: Any):
            options.setdefault("max_retries", 0)
            client = openai.AsyncOpenAI(
                base_url="http://testserver/v1",
                api_key=api_key or make_token(user),
                http_client=httpx2.AsyncClient(
                    transport=options.pop("transport", None) or httpx2.ASGITransport(app=app)
                ),
                **options,
            )
            clients.append(client)
            return client

        make.app = app  # type: ignore[attr-defined]
        try:
            yield make
        finally:
            for client in clients:
                await client.close()


@pytest.fixture
async def sdk(
    settings: GatewaySettings,  # noqa: F811 - the gateway tier's fixture
) -> AsyncIterator[Callable[..., openai.AsyncOpenAI]]:
    async with openai_app(settings) as make:
        yield make


async def finish(
    session_factory: Any,
    gateway_settings: GatewaySettings,
    job_id: uuid.UUID,
    *,
    kind: Kind,
    user: str = "alice",
    ok: bool = True,
) -> None:
    """What the generator and the projector would do: files in storage, then the outcome
    projected (through the projector's own code) and committed."""
    if ok:
        storage = make_storage(gateway_settings)
        if kind is Kind.IMAGE:
            files = None
            await storage.put(f"image/{job_id}/0.png", PNG_1x1, "image/png")
            await storage.put(f"image/{job_id}/1.png", PNG_1x1, "image/png")
        else:
            files = video_files(job_id)
            await storage.put(f"video/{job_id}/0.mp4", MP4_STUB, "video/mp4")
            await storage.put(f"video/{job_id}/0.png", PNG_1x1, "image/png")
        await storage.close()
        event = completed(job_id, user=user, kind=kind, files=files)
    else:
        event = failed(job_id, user=user, kind=kind)
    async with session_factory() as session:
        await project(session, event)
        await session.commit()
