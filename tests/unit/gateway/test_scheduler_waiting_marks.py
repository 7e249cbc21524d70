"""When a scheduler pass writes ``waiting_for`` (an UPDATE that scans the whole queue): only
while a model lacks a worker, when that set changed, and once a poll interval (a mark another
replica left is cleared within it). Pure decision logic of ``Scheduler._mark_waiting``."""

from __future__ import annotations

import pytest
from sorami_gateway.settings import GatewaySettings
from sorami_gateway.workers import scheduler as scheduler_worker
from sorami_gateway.workers.scheduler import Scheduler


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(scheduler_worker.time, "monotonic", lambda: now[0])
    return now


def test_the_queue_is_marked_only_when_it_may_change(clock: list[float]) -> None:
    settings = GatewaySettings(environment="development", scheduler_poll_interval_s=1.0)
    scheduler = Scheduler(settings, sessions=None)  # type: ignore[arg-type]
    none, video = frozenset(), frozenset({"tiny-video"})
    assert scheduler._mark_waiting(none)  # the first pass: whatever an earlier process left
    clock[0] += 0.1
    assert not scheduler._mark_waiting(none)  # every model has a worker, nothing changed
    assert scheduler._mark_waiting(video)  # a model lost its worker: its jobs say so
    clock[0] += 0.1
    assert scheduler._mark_waiting(video)  # still: new jobs of that model need the mark
    assert scheduler._mark_waiting(none)  # the worker came back: clear the marks
    clock[0] += 0.5
    assert not scheduler._mark_waiting(none)
    clock[0] += 0.6  # a poll interval since the last write: another replica's marks
    assert scheduler._mark_waiting(none)
    assert not scheduler._mark_waiting(none)
