from __future__ import annotations

import pytest
from sorami_gateway.generations.tables import Status
from sorami_gateway.generations.transitions import State, on_completed, on_failed, on_progress

TERMINAL = [Status.COMPLETED, Status.FAILED, Status.CANCELLED]


def test_progress_starts_processing():
    change = on_progress(State(Status.PENDING, 0), 0)
    assert change is not None and change.status == Status.PROCESSING and change.started


def test_progress_never_moves_backwards():
    change = on_progress(State(Status.PROCESSING, 60), 30)
    assert change is None
    change = on_progress(State(Status.PROCESSING, 60), 80)
    assert change is not None and change.progress == 80


@pytest.mark.parametrize("status", TERMINAL)
def test_nothing_touches_a_terminal_status(status):
    state = State(status, 100 if status == Status.COMPLETED else 40)
    assert on_progress(state, 99) is None
    assert on_completed(state) is None
    assert on_failed(state) is None


@pytest.mark.parametrize("status", [Status.PENDING, Status.PROCESSING])
def test_completed_from_any_open_state(status):
    change = on_completed(State(status, 10))
    assert change is not None and change.status == Status.COMPLETED
    assert change.progress == 100 and change.finished


def test_failed_keeps_progress():
    change = on_failed(State(Status.PROCESSING, 45))
    assert change is not None and change.status == Status.FAILED and change.progress == 45


def test_progress_clamped():
    change = on_progress(State(Status.PENDING, 0), 150)
    assert change is not None and change.progress == 100


def test_cancel_ends_unfinished_jobs_only_and_keeps_their_progress() -> None:
    from sorami_gateway.generations.transitions import on_cancelled

    for status in (Status.PENDING, Status.PROCESSING):
        change = on_cancelled(State(status, 30))
        assert change is not None and change.status == Status.CANCELLED
        assert change.progress == 30 and change.finished
    for status in (Status.COMPLETED, Status.FAILED, Status.CANCELLED):
        assert on_cancelled(State(status, 100)) is None
