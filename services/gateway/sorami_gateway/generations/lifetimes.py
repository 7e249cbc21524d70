"""Lifetimes of results (issue 26). The operator's ``retention_days`` bounds how long a
generation's files are kept (None: kept until deleted); a request's ``expires_after``
(seconds) may only shorten it (422 naming ``expires_after`` above it). ``expires_at`` is
counted from the request and set in the transaction that creates the generation. Once it has
passed, the result answers 410 (``/result``, ``/media``), and the janitor schedules the
removal of the files of every finished expired generation (:func:`expire_results`); the row
stays (``files_expired``) so its status and the 410 still answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from fastapi import HTTPException, status

from ..infra.db import SessionFactory
from ..media import deletions as storage_deletions
from ..settings import GatewaySettings
from .inputs import refused
from .tables import Generation, Status

DAY_S = 86400
TERMINAL = [s.value for s in Status if s.terminal]


def retention_s(settings: GatewaySettings) -> int | None:
    days = settings.retention_days
    return None if days is None else max(1, round(days * DAY_S))


def lifetime_s(settings: GatewaySettings, request: Any) -> int | None:
    """How long the request's results are kept (None: until deleted)."""
    asked = getattr(request, "expires_after", None)
    limit = retention_s(settings)
    if asked is not None and limit is not None and asked > limit:
        raise refused(
            "expires_after",
            f"must be at most {limit} s (this service keeps results "
            f"{settings.retention_days:g} days)",
            asked,
        )
    return asked if asked is not None else limit


def expired(expires_at: datetime | None, now: datetime | None = None) -> bool:
    return expires_at is not None and expires_at <= (now or datetime.now(UTC))


def gone(generation: Generation) -> HTTPException:
    return HTTPException(
        status.HTTP_410_GONE,
        f"this result expired at {generation.expires_at.isoformat()}",  # type: ignore[union-attr]
    )


async def expire_results(sessions: SessionFactory, *, batch: int) -> int:
    """One pass: the finished generations past ``expires_at`` get their files' removal
    scheduled (the deletion drain does it, with retries) and ``files_expired``."""
    async with sessions() as session, session.begin():
        rows = (
            await session.execute(
                sa.select(Generation.id, Generation.user_id, Generation.kind)
                .where(
                    Generation.expires_at <= sa.func.now(),  # type: ignore[operator]
                    sa.not_(Generation.files_expired),
                    Generation.status.in_(TERMINAL),  # type: ignore[attr-defined]
                )
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for job_id, user_id, kind in rows:
            await storage_deletions.schedule(
                session,
                job_id=job_id,
                user_id=user_id,
                kind=kind,
                reason=storage_deletions.EXPIRED,
            )
        if rows:
            await session.execute(
                sa.update(Generation)
                .where(Generation.id.in_([r[0] for r in rows]))  # type: ignore[union-attr]
                .values(files_expired=True)
            )
    return len(rows)
