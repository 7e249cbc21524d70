"""The generation state machine, as pure functions of (current state, event).

Rules: PENDING → PROCESSING on any progress; progress never moves backwards; the first terminal
state (COMPLETED, FAILED, CANCELLED) wins and nothing touches it afterwards. A ``completed``
arriving before any ``progress`` is fine (PENDING → COMPLETED).
"""

from __future__ import annotations

from dataclasses import dataclass

from .tables import Status


@dataclass(frozen=True)
class State:
    status: Status
    progress: int


@dataclass(frozen=True)
class Change:
    """What to write; ``None`` in :func:`on_*` results means: change nothing."""

    status: Status
    progress: int
    started: bool = False  # set started_at if not yet set
    finished: bool = False  # set completed_at


def on_progress(state: State, progress: int) -> Change | None:
    if state.status.terminal:
        return None
    new_progress = max(state.progress, min(100, max(0, progress)))
    new_status = Status.PROCESSING
    if new_status == state.status and new_progress == state.progress:
        return None
    return Change(status=new_status, progress=new_progress, started=True)


def on_completed(state: State) -> Change | None:
    if state.status.terminal:
        return None
    return Change(status=Status.COMPLETED, progress=100, started=True, finished=True)


def on_failed(state: State) -> Change | None:
    if state.status.terminal:
        return None
    return Change(status=Status.FAILED, progress=state.progress, started=False, finished=True)


def on_cancelled(state: State) -> Change | None:
    """A cancel (the user's, or a generator's report of one): unless already final."""
    if state.status.terminal:
        return None
    return Change(status=Status.CANCELLED, progress=state.progress, started=False, finished=True)
