"""Event builders for projection tests (what the generator and notifier would send)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sorami_shared.events import (
    FailureCode,
    FileInfo,
    GenerationCompleted,
    GenerationFailed,
    GenerationProgress,
    GenerationProgressBatch,
    Kind,
    NotificationCreated,
    Outcome,
    ProgressEntry,
    derived_id,
    new_event,
)

SOURCE = "sorami/generator-test"


def progress(job_id: uuid.UUID, value: int, *, user: str = "alice", kind: Kind = Kind.IMAGE) -> Any:
    return new_event(
        GenerationProgress(job_id=job_id, user_id=user, kind=kind, progress=value),
        source=SOURCE,
        correlation_id="c",
    )


def progress_of_jobs(values: list[tuple[uuid.UUID, int]], *, user: str = "alice") -> Any:
    """One ``generation.progress`` version 2 (the generator's batch step): several jobs."""
    entries = [
        ProgressEntry(job_id=j, user_id=user, kind=Kind.IMAGE, progress=v, correlation_id=str(j))
        for j, v in values
    ]
    return new_event(GenerationProgressBatch(jobs=entries), source=SOURCE, correlation_id="c")


def image_files(job_id: uuid.UUID, count: int = 2) -> list[FileInfo]:
    return [
        FileInfo(
            index=i,
            key=f"image/{job_id}/{i}.png",
            mime_type="image/png",
            bytes=100 + i,
            width=64,
            height=64,
        )
        for i in range(count)
    ]


def video_files(job_id: uuid.UUID) -> list[FileInfo]:
    return [
        FileInfo(
            index=0,
            key=f"video/{job_id}/0.mp4",
            mime_type="video/mp4",
            bytes=2048,
            width=64,
            height=64,
            fps=4.0,
            frame_count=8,
            duration_s=2.0,
            poster_key=f"video/{job_id}/0.png",
        )
    ]


def completed(
    job_id: uuid.UUID,
    *,
    user: str = "alice",
    kind: Kind = Kind.IMAGE,
    files: list[FileInfo] | None = None,
    event_id: uuid.UUID | None = None,
) -> Any:
    return new_event(
        GenerationCompleted(
            job_id=job_id,
            user_id=user,
            kind=kind,
            model="tiny-image",
            seed=1,
            files=files or image_files(job_id),
        ),
        source=SOURCE,
        correlation_id="c",
        event_id=event_id or derived_id("generation.completed", job_id),
    )


def failed(
    job_id: uuid.UUID,
    *,
    user: str = "alice",
    kind: Kind = Kind.IMAGE,
    reason: str = "out of memory",
    code: FailureCode = FailureCode.OUT_OF_MEMORY,
) -> Any:
    return new_event(
        GenerationFailed(job_id=job_id, user_id=user, kind=kind, code=code, reason=reason),
        source=SOURCE,
        correlation_id="c",
        event_id=derived_id("generation.failed", job_id),
    )


def notification(
    job_id: uuid.UUID,
    *,
    user: str = "alice",
    outcome: Outcome = Outcome.COMPLETED,
    kind: Kind = Kind.IMAGE,
    created_at: datetime | None = None,
) -> Any:
    nid = derived_id("notification", job_id, outcome.value)
    return new_event(
        NotificationCreated(
            notification_id=nid,
            user_id=user,
            job_id=job_id,
            kind=kind,
            outcome=outcome,
            title=f"Your {kind.value} is ready",
            message="done",
            data={"job_id": str(job_id), "kind": kind.value},
            created_at=created_at or datetime.now(UTC),
        ),
        source="sorami/notifier-test",
        correlation_id="c",
        event_id=derived_id("notification.created", nid),
    )
