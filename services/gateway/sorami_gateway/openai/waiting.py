"""Waiting for a job to finish (``POST /v1/images/generations`` answers with the files).

A primary-key read in a short session per check, with back-off from 50 ms to 500 ms: no
connection is held between checks, the first checks catch a tiny model's sub-second jobs
quickly, and a long job costs two indexed reads a second. (The projector sends no
notification on progress; if it ever does, this is the one place to listen.)
"""

from __future__ import annotations

import asyncio
import time
import uuid

from ..generations.tables import Generation, Status
from ..infra.db import SessionFactory

FIRST_INTERVAL_S = 0.05
MAX_INTERVAL_S = 0.5


async def wait_until_finished(
    sessions: SessionFactory, job_id: uuid.UUID, *, within_s: float
) -> Generation | None:
    """The generation once it is COMPLETED, FAILED or CANCELLED; None if it still runs after
    ``within_s`` (or vanished)."""
    deadline = time.monotonic() + within_s
    interval = FIRST_INTERVAL_S
    while True:
        async with sessions() as session:
            generation = await session.get(Generation, job_id)
        if generation is None:
            return None
        if Status(generation.status).terminal:
            return generation
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        await asyncio.sleep(min(interval, remaining))
        interval = min(interval * 1.5, MAX_INTERVAL_S)
