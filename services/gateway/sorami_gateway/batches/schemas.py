"""``POST /api/batches`` bodies and the batch's answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sorami_shared.events import Kind


class Grid(BaseModel):
    """Every prompt with every seed: ``len(prompts) x len(seeds)`` jobs sharing ``base``."""

    model_config = ConfigDict(extra="forbid")

    base: dict[str, Any] = Field(default_factory=dict, description="the other fields of each job")
    prompts: list[str] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)


class BatchRequest(BaseModel):
    """Either ``requests`` (each a ``POST /api/{kind}/generate`` body) or ``grid``."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind
    requests: list[dict[str, Any]] | None = None
    grid: Grid | None = None


class BatchCreated(BaseModel):
    batch_id: uuid.UUID
    size: int
    job_ids: list[uuid.UUID]


class BatchJob(BaseModel):
    job_id: uuid.UUID
    status: str
    progress: int
    error_code: str | None
    queue_position: int | None


class BatchPublic(BaseModel):
    batch_id: uuid.UUID
    kind: Kind
    size: int
    created_at: datetime
    counts: dict[str, int]  # status -> jobs
    done: bool  # every job finished (COMPLETED, FAILED or CANCELLED)
    jobs: list[BatchJob]  # a page, in submission order
    next_cursor: str | None
