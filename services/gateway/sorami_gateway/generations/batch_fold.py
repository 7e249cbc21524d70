"""A batch of one job's generator events folded over its row, in arrival order, with the rules
of :mod:`.transitions` (pure logic; the projector's batch path, workers/projector_batch.py).

The result is what the one-event-at-a-time path would have written, except that a progress
event of the user's log that a later event of the same batch supersedes (a later progress, or
the terminal event) is left out: the events of one batch arrived within milliseconds, the
client sees the last percent, progress only rises, and nothing follows a terminal event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sorami_shared.events import (
    Envelope,
    GenerationCompleted,
    GenerationFailed,
    GenerationProgress,
)

from ..events import log as user_events
from .feed import status_data
from .tables import Status
from .transitions import Change, State, on_completed, on_failed, on_progress


@dataclass
class Row:
    """What the batch path reads of a locked generation."""

    id: uuid.UUID
    user_id: str
    kind: str
    status: str
    progress: int
    error: str | None
    error_code: str | None
    started: bool  # started_at is set


@dataclass
class Folded:
    row: Row
    changed: bool = False
    set_error: bool = False  # a terminal change writes error / error_code
    started_now: bool = False  # this batch set started_at
    finished_now: bool = False  # this batch made it terminal
    # (position of the causing event in the batch, type, data): merged across jobs by position
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)


def _apply(out: Folded, change: Change) -> None:
    row = out.row
    out.changed = True
    if change.started and not row.started:
        row.started = out.started_now = True
    if change.finished:
        out.finished_now = True
    row.status, row.progress = change.status.value, change.progress


def _data(row: Row, **extra: Any) -> dict[str, Any]:
    return status_data(
        row.id, row.kind, row.status, row.progress, row.error, row.error_code, **extra
    )


def fold(row: Row, envelopes: list[tuple[int, Envelope[Any]]]) -> Folded:
    """``envelopes``: this job's new events (deduplicated) with their position in the batch,
    in arrival order."""
    out = Folded(row)
    for pos, envelope in envelopes:
        data, at = envelope.data, envelope.time.isoformat()
        state = State(Status(row.status), row.progress)
        if isinstance(data, GenerationProgress):
            change = on_progress(state, data.progress)
            if change is None:
                continue
            before = row.status
            _apply(out, change)
            if row.status != before:
                out.events.append((pos, user_events.STATUS, _data(row, at=at)))
            step = {"step": data.step, "total_steps": data.total_steps, "at": at}
            out.events.append((pos, user_events.PROGRESS, _data(row, **step)))
        elif isinstance(data, GenerationCompleted):
            change = on_completed(state)
            if change is None:
                continue
            _apply(out, change)
            row.error = row.error_code = None
            out.set_error = True
            out.files = [{"generation_id": str(row.id), **f.model_dump()} for f in data.files]
            out.events.append(
                (pos, user_events.COMPLETED, _data(row, files=len(data.files), at=at))
            )
        elif isinstance(data, GenerationFailed):
            change = on_failed(state)
            if change is None:
                continue
            _apply(out, change)
            row.error, row.error_code = data.reason, data.code.value
            out.set_error = True
            out.events.append((pos, user_events.FAILED, _data(row, at=at)))
    out.events = coalesced(out.events)
    return out


Event = tuple[int, str, dict[str, Any]]


def coalesced(events: list[Event]) -> list[Event]:
    """Without the progress events a later progress or terminal event supersedes."""
    kept: list[Event] = []
    for i, event in enumerate(events):
        later = {t for _, t, _ in events[i + 1 :]}
        if event[1] == user_events.PROGRESS and later - {user_events.STATUS}:
            continue
        kept.append(event)
    return kept
