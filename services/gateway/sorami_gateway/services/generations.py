"""Generations: create (row + outbox in the caller's transaction), read, history.

Services never commit: the route that calls them owns the transaction."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from sorami_shared.events import GenerationRequested, Kind, new_event
from sqlalchemy.ext.asyncio import AsyncSession

from .. import metrics, user_events
from ..cursor import Cursor
from ..generation_requests import GenerateRequestBase
from ..media_urls import MediaUrls
from ..models import Generation, GenerationFile, Status
from ..outbox import add_to_outbox
from ..schemas import (
    FilePublic,
    GenerationPage,
    GenerationResultPublic,
    GenerationStatusPublic,
)

EVENT_SOURCE = "sorami/gateway"


async def create_generation(
    session: AsyncSession,
    *,
    user_id: str,
    kind: Kind,
    request: GenerateRequestBase,
    correlation_id: str,
) -> uuid.UUID:
    """Insert the generation (its id minted by the database) and its ``generation.requested``
    event in the outbox. Both commit or neither does."""
    params = request.to_params()
    job_id: uuid.UUID = (
        await session.execute(
            sa.insert(Generation)
            .values(
                user_id=user_id,
                kind=kind.value,
                status=Status.PENDING.value,
                progress=0,
                params=params.model_dump(mode="json"),
                correlation_id=correlation_id,
            )
            .returning(Generation.id)
        )
    ).scalar_one()
    event = new_event(
        GenerationRequested(job_id=job_id, user_id=user_id, kind=kind, params=params),
        source=EVENT_SOURCE,
        correlation_id=correlation_id,
    )
    await add_to_outbox(session, event)
    metrics.job_created(session, kind.value, params.model)
    # the first event of its stream (GET /api/events), in the same transaction
    await user_events.append(
        session,
        user_id=user_id,
        type=user_events.STATUS,
        job_id=job_id,
        data={
            "job_id": str(job_id),
            "kind": kind.value,
            "status": Status.PENDING.value,
            "progress": 0,
            "error": None,
            "error_code": None,
        },
    )
    return job_id


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
) -> tuple[list[Generation], Cursor | None]:
    """A page of the caller's generations, newest first; ``kind=None`` for both kinds (one
    index scan per kind of ``ix_generations_history``, merged: no second index needed)."""
    kinds = [kind] if kind is not None else list(Kind)
    scans = [_history_scan(user_id, k, cursor, limit + 1) for k in kinds]
    if len(scans) == 1:
        query = scans[0]
    else:
        merged = sa.union_all(*(scan.subquery().select() for scan in scans)).subquery()
        query = sa.select(Generation).from_statement(
            sa.select(merged)
            .order_by(merged.c.created_at.desc(), merged.c.id.desc())
            .limit(limit + 1)
        )
    rows = list((await session.execute(query)).scalars())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = Cursor(last.created_at, last.id)  # type: ignore[arg-type]
    return rows, next_cursor


def _history_scan(user_id: str, kind: Kind, cursor: Cursor | None, limit: int) -> sa.Select:
    query = sa.select(Generation).where(
        Generation.user_id == user_id, Generation.kind == kind.value
    )
    if cursor is not None:
        query = query.where(
            sa.tuple_(Generation.created_at, Generation.id)
            < sa.tuple_(sa.literal(cursor.created_at), sa.literal(cursor.id))
        )
    return query.order_by(Generation.created_at.desc(), Generation.id.desc()).limit(limit)


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
    )


async def result_of(
    generation: Generation, files: Sequence[GenerationFile], urls: MediaUrls
) -> GenerationResultPublic:
    public_files = [
        FilePublic(
            index=f.index,
            url=await urls.url(f.key),
            mime_type=f.mime_type,
            bytes=f.bytes,
            width=f.width,
            height=f.height,
            fps=f.fps,
            frame_count=f.frame_count,
            duration_s=f.duration_s,
            poster_url=await urls.url(f.poster_key) if f.poster_key else None,
        )
        for f in files
    ]
    return GenerationResultPublic(
        **status_of(generation).model_dump(),
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
    rows, next_cursor = await list_generations(
        session, user_id=user_id, kind=kind, cursor=cursor, limit=limit
    )
    files = await files_of(session, [r.id for r in rows])  # type: ignore[misc]
    items = [await result_of(r, files.get(r.id, []), urls) for r in rows]  # type: ignore[arg-type]
    return GenerationPage(items=items, next_cursor=next_cursor.encode() if next_cursor else None)
