"""``POST /v1/images/generations`` with ``stream: true``: OpenAI's image stream.

Server-sent events, each ``event:`` named like its ``type``: up to ``partial_images`` (0–3)
``image_generation.partial_image`` (the job's live previews, small WebP: see
:mod:`sorami_gateway.events.previews`), then one ``image_generation.completed`` per image
(base64 of the file), or an ``error`` event if the job failed or is still running after
``openai_image_wait_s``. The previews come from this process's hub; the job's end is read from
the database, woken by the user's event-log notifications (and a poll)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sorami_shared.logging import get_logger
from sorami_shared.storage import Storage, StorageError

from ..events.hub import EventHub
from ..generations import service as generations
from ..generations.tables import Generation, Status
from ..infra.db import SessionFactory
from .errors import SERVER_ERROR

log = get_logger(__name__)

POLL_S = 0.5
USAGE = {
    "input_tokens": 0,
    "input_tokens_details": {"image_tokens": 0, "text_tokens": 0},
    "output_tokens": 0,
    "total_tokens": 0,
}
QUALITIES = ("low", "medium", "high", "xhigh", "max", "auto")


def _event(data: dict[str, Any]) -> str:
    return f"event: {data['type']}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _error(message: str, code: str, job_id: uuid.UUID) -> str:
    error = {"message": message, "type": SERVER_ERROR, "param": None, "code": code}
    body = {"type": "error", "error": {**error, "job_id": str(job_id)}}
    return f"event: error\ndata: {json.dumps(body)}\n\n"


async def image_stream(
    *,
    hub: EventHub,
    sessions: SessionFactory,
    storage: Storage | None,
    job_id: uuid.UUID,
    user_id: str,
    partial_images: int,
    quality: str | None,
    within_s: float,
) -> AsyncIterator[str]:
    deadline = time.monotonic() + within_s
    common = {
        "background": "opaque",
        "quality": quality if quality in QUALITIES else "auto",
    }
    sent = 0
    with hub.subscription(user_id) as wake, hub.preview_feed(user_id) as previews:
        while True:
            wake.clear()
            while previews:
                p = previews.popleft()
                if p["job_id"] != str(job_id) or sent >= partial_images:
                    continue
                yield _event(
                    {
                        "type": "image_generation.partial_image",
                        "b64_json": p["url"].split(",", 1)[1],
                        "created_at": int(time.time()),
                        "output_format": p["mime_type"].split("/")[1],
                        "partial_image_index": sent,
                        "size": f"{p['width']}x{p['height']}",
                        **common,
                    }
                )
                sent += 1
            async with sessions() as session:
                generation = await session.get(Generation, job_id)
            if generation is not None and Status(generation.status).terminal:
                break
            remaining = deadline - time.monotonic()
            if generation is None or remaining <= 0:
                yield _error(
                    f"Image generation {job_id} is still running after {within_s:g} s; follow "
                    f"it at GET /api/images/{job_id}/status.",
                    "generation_pending",
                    job_id,
                )
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(POLL_S, remaining)):
                    await wake.wait()
    async for frame in _final(generation, sessions, storage, job_id, common):
        yield frame


async def _final(
    generation: Generation,
    sessions: SessionFactory,
    storage: Storage | None,
    job_id: uuid.UUID,
    common: dict[str, Any],
) -> AsyncIterator[str]:
    if generation.status != Status.COMPLETED.value:
        yield _error(
            f"Image generation {job_id} {generation.status.lower()}: "
            f"{generation.error or 'no reason given'}",
            generation.error_code or "generation_failed",
            job_id,
        )
        return
    async with sessions() as session:
        files = (await generations.files_of(session, [job_id])).get(job_id, [])
    for f in files:
        try:
            if storage is None:
                raise StorageError("no storage")
            data = await storage.get(f.key)
        except StorageError as exc:
            log.error("reading an image failed", key=f.key, error=str(exc))
            yield _error("storage unavailable", "service_unavailable", job_id)
            return
        yield _event(
            {
                "type": "image_generation.completed",
                "b64_json": base64.b64encode(data).decode(),
                "created_at": int(time.time()),
                "output_format": generation.params.get("output_format") or "png",
                "size": f"{generation.params['width']}x{generation.params['height']}",
                "usage": USAGE,
                **common,
            }
        )
