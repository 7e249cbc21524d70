"""Generations: read, history (the create is :mod:`.admission`'s one statement).

Services never commit: the route that calls them owns the transaction."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sorami_shared.events import Kind
from sqlalchemy.ext.asyncio import AsyncSession

from ..infra.cursor import Cursor, fetch_page, keyset_page, next_cursor
from ..media.urls import MediaUrls
from ..scheduling.tables import QueuedJob
from .schemas import (
    FilePublic,
    GenerationPage,
    GenerationResultPublic,
    GenerationStatusPublic,
)
from .tables import Generation, GenerationFile, Status

# What a file answers as stored; its keys become URLs.
COPIED_FILE_FIELDS = set(FilePublic.model_fields) - {"url", "poster_url"}

EVENT_SOURCE = "sorami/gateway"


async def get_generation(
    session: AsyncSession, *, user_id: str, kind: Kind, job_id: uuid.UUID
) -> Generation | None:
    """The caller's generation of that kind; None for a missing one, another user's, or
    another kind's (indistinguishable on purpose)."""
    result = await session.execute(
        sa.select(Generation).where(
            Generation.id == job_id, Generation.user_id == user_id, Generation.kind == kind.value
        )
    )
    return result.scalar_one_or_none()


async def list_generations(
    session: AsyncSession, *, user_id: str, kind: Kind | None, cursor: Cursor | None, limit: int
) -> tuple[list[Generation], bool]:
    """One page of the caller's generations, newest first; True: more follow. ``kind=None``:
    both kinds, one index scan per kind of ``ix_generations_history``, merged (no second
    index needed)."""
    key = (Generation.created_at, Generation.id)
    after = (cursor.created_at, cursor.id) if cursor is not None else None
    if kind is not None:
        return await fetch_page(session, _of_kind(user_id, kind), key, after=after, limit=limit)
    scans = [keyset_page(_of_kind(user_id, k), key, after=after, limit=limit) for k in Kind]
    merged = sa.union_all(*(scan.subquery().select() for scan in scans)).subquery()
    query = sa.select(Generation).from_statement(
        sa.select(merged).order_by(merged.c.created_at.desc(), merged.c.id.desc()).limit(limit + 1)
    )
    rows = list((await session.execute(query)).scalars())
    return rows[:limit], len(rows) > limit


def _of_kind(user_id: str, kind: Kind) -> sa.Select:
    return sa.select(Generation).where(Generation.user_id == user_id, Generation.kind == kind.value)


async def files_of(
    session: AsyncSession, generation_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[GenerationFile]]:
    files: dict[uuid.UUID, list[GenerationFile]] = defaultdict(list)
    if not generation_ids:
        return files
    result = await session.execute(
        sa.select(GenerationFile)
        .where(GenerationFile.generation_id.in_(list(generation_ids)))
        .order_by(GenerationFile.generation_id, GenerationFile.index)
    )
    for row in result.scalars():
        files[row.generation_id].append(row)
    return files


def status_of(generation: Generation) -> GenerationStatusPublic:
    return GenerationStatusPublic(
        job_id=generation.id,  # type: ignore[arg-type]
        kind=Kind(generation.kind),
        status=Status(generation.status),
        progress=generation.progress,
        error=generation.error,
        error_code=generation.error_code,
        expires_at=generation.expires_at,
    )


async def queue_places(
    session: AsyncSession, rows: Sequence[Generation]
) -> dict[uuid.UUID, dict[str, Any]]:
    """Where each PENDING one of ``rows`` waits in the scheduler's queue (as ``/status``
    says it): so a page loaded anew (a reload) shows it too, not only a live event."""
    pending = [r.id for r in rows if r.status == "PENDING"]
    if not pending:
        return {}
    found = await session.execute(
        sa.select(
            QueuedJob.job_id, QueuedJob.position, QueuedJob.eta_s, QueuedJob.waiting_for
        ).where(QueuedJob.job_id.in_(pending))  # type: ignore[attr-defined]
    )
    return {
        job: {"queue_position": position, "eta_s": eta, "waiting_for": waiting}
        for job, position, eta, waiting in found.all()
    }


async def result_of(
    generation: Generation,
    files: Sequence[GenerationFile],
    urls: MediaUrls,
    place: dict[str, Any] | None = None,
) -> GenerationResultPublic:
    public_files = [
        FilePublic(
            **f.model_dump(include=COPIED_FILE_FIELDS),
            url=await urls.url(f.key),
            poster_url=await urls.url(f.poster_key) if f.poster_key else None,
        )
        for f in files
        if not generation.files_expired
    ]
    return GenerationResultPublic(
        **(status_of(generation).model_dump() | (place or {})),
        params=generation.params,
        created_at=generation.created_at,  # type: ignore[arg-type]
        completed_at=generation.completed_at,
        files=public_files,
    )


async def history_page(
    session: AsyncSession,
    *,
    user_id: str,
    kind: Kind | None,
    cursor: Cursor | None,
    limit: int,
    urls: MediaUrls,
) -> GenerationPage:
    rows, more = await list_generations(
        session, user_id=user_id, kind=kind, cursor=cursor, limit=limit
    )
    files = await files_of(session, [r.id for r in rows])  # type: ignore[misc]
    places = await queue_places(session, rows)
    items = [
        await result_of(r, files.get(r.id, []), urls, places.get(r.id))  # type: ignore[arg-type]
        for r in rows
    ]
    return GenerationPage(items=items, next_cursor=next_cursor(rows, more))
