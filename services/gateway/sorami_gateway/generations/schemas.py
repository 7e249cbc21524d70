"""What the generations API answers (never table objects)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sorami_shared.events import Kind

from .tables import Status


class KindPath(StrEnum):
    """The ``{kind}`` path segment."""

    images = "images"
    videos = "videos"

    @property
    def kind(self) -> Kind:
        return Kind.IMAGE if self is KindPath.images else Kind.VIDEO


class GenerateAccepted(BaseModel):
    job_id: uuid.UUID
    status: Status = Status.PENDING


class GenerationStatusPublic(BaseModel):
    job_id: uuid.UUID
    kind: Kind
    status: Status
    progress: int
    error: str | None
    error_code: str | None
    expires_at: datetime | None = None  # the results are removed then (null: kept)
    # while it waits in the scheduler's queue (PENDING, not yet released): where it stands
    # among the jobs of its model (1 = next), about when it starts, and what it waits for
    # ("worker": no generator serves its model right now)
    queue_position: int | None = None
    eta_s: float | None = None
    waiting_for: str | None = None


class FilePublic(BaseModel):
    index: int
    url: str
    mime_type: str
    bytes: int
    width: int
    height: int
    fps: float | None = None
    frame_count: int | None = None
    duration_s: float | None = None
    poster_url: str | None = None


class GenerationResultPublic(GenerationStatusPublic):
    params: dict[str, Any]
    created_at: datetime
    completed_at: datetime | None
    files: list[FilePublic]


class GenerationPage(BaseModel):
    items: list[GenerationResultPublic]
    next_cursor: str | None
