"""What a notification says: pure functions from a generation outcome to its text."""

from __future__ import annotations

import uuid

from sorami_shared.events import (
    GenerationCompleted,
    GenerationFailed,
    Kind,
    NotificationContent,
    Outcome,
    derived_id,
)

MAX_REASON_CHARS = 500


class NotificationDraft(NotificationContent):
    """A notification before it is stored: what ``notification.created`` will say, and the
    deterministic id of its row (one per job and outcome)."""

    id: uuid.UUID


def notification_id(job_id: uuid.UUID, outcome: Outcome) -> uuid.UUID:
    return derived_id("notification", job_id, outcome.value)


def notification_event_id(notification_id: uuid.UUID) -> uuid.UUID:
    return derived_id("notification.created", notification_id)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _completed_message(event: GenerationCompleted) -> str:
    if event.kind == Kind.IMAGE:
        n = len(event.files)
        first = event.files[0]
        pronoun = "it" if n == 1 else "them"
        return (
            f"{_plural(n, 'image')} ({first.width}x{first.height}) generated with "
            f"{event.model}. Open {pronoun} to view and download."
        )
    first = event.files[0]
    length = f", {first.duration_s:.1f} s" if first.duration_s is not None else ""
    frames = f", {first.frame_count} frames" if first.frame_count is not None else ""
    return (
        f"Your video ({first.width}x{first.height}{frames}{length}) generated with "
        f"{event.model} is ready to watch."
    )


def _failed_message(event: GenerationFailed) -> str:
    reason = event.reason.strip()
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[: MAX_REASON_CHARS - 1] + "…"
    return f"Your {event.kind.value} failed: {reason}"


def draft_for(event: GenerationCompleted | GenerationFailed) -> NotificationDraft:
    """The notification a completed or failed generation produces (deterministic)."""
    if isinstance(event, GenerationCompleted):
        outcome = Outcome.COMPLETED
        title = f"Your {event.kind.value} is ready"
        message = _completed_message(event)
    else:
        outcome = Outcome.FAILED
        title = f"Your {event.kind.value} failed"
        message = _failed_message(event)
    return NotificationDraft(
        id=notification_id(event.job_id, outcome),
        **event.job_ref(),
        outcome=outcome,
        title=title,
        message=message,
        data={"job_id": str(event.job_id), "kind": event.kind.value},
    )
