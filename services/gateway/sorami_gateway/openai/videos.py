"""Sorami generations as OpenAI ``Video`` objects, and their listing by ``after`` id."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sorami_shared.events import Kind
from sqlalchemy.ext.asyncio import AsyncSession

from ..generations.service import get_generation
from ..generations.tables import Generation, Status
from ..infra.cursor import fetch_page
from .errors import bad_request, not_found
from .params import format_seconds
from .schemas import Video, VideoError

# Exactly the four statuses the SDK's polling helper knows.
_STATUS = {
    Status.PENDING: "queued",
    Status.PROCESSING: "in_progress",
    Status.COMPLETED: "completed",
    Status.FAILED: "failed",
    Status.CANCELLED: "failed",
}


def _unix(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def video_of(generation: Generation) -> Video:
    params = generation.params
    status = Status(generation.status)
    error = None
    if status is Status.FAILED:
        error = VideoError(
            code=generation.error_code or "generation_failed",
            message=generation.error or "the generation failed",
        )
    elif status is Status.CANCELLED:
        error = VideoError(code="cancelled", message=generation.error or "the job was cancelled")
    fps = params.get("fps") or 1
    return Video(
        id=str(generation.id),
        created_at=_unix(generation.created_at) or 0,
        completed_at=_unix(generation.completed_at),
        status=_STATUS[status],  # type: ignore[arg-type]
        progress=100 if status is Status.COMPLETED else generation.progress,
        model=params.get("model", ""),
        prompt=params.get("prompt"),
        seconds=format_seconds(params.get("num_frames") or 0, fps),
        size=f"{params.get('width')}x{params.get('height')}",
        error=error,
    )


def parse_video_id(video_id: str, *, param: str | None = None) -> uuid.UUID:
    """A video id is the job's UUID; anything else names no video (404, or 400 for a query
    parameter such as ``after``)."""
    try:
        return uuid.UUID(video_id)
    except ValueError:
        if param is not None:
            raise bad_request(f"No video found with id '{video_id}'.", param=param) from None
        raise not_found(f"No video found with id '{video_id}'.") from None


async def owned_video(session: AsyncSession, user_id: str, video_id: str) -> Generation:
    """The caller's video; another user's answers 404 exactly like a missing one."""
    generation = await get_generation(
        session, user_id=user_id, kind=Kind.VIDEO, job_id=parse_video_id(video_id)
    )
    if generation is None:
        raise not_found(f"No video found with id '{video_id}'.")
    return generation


async def list_videos(
    session: AsyncSession,
    *,
    user_id: str,
    after: str | None,
    limit: int,
    order: Literal["asc", "desc"],
) -> tuple[list[Generation], bool]:
    """One page of the caller's videos by creation time; True when more follow."""
    anchor = None
    if after is not None:
        anchor = await get_generation(
            session, user_id=user_id, kind=Kind.VIDEO, job_id=parse_video_id(after, param="after")
        )
        if anchor is None:
            raise bad_request(f"No video found with id '{after}'.", param="after")
    return await fetch_page(
        session,
        sa.select(Generation).where(
            Generation.user_id == user_id, Generation.kind == Kind.VIDEO.value
        ),
        (Generation.created_at, Generation.id),
        after=(anchor.created_at, anchor.id) if anchor is not None else None,
        limit=limit,
        descending=order == "desc",
    )
