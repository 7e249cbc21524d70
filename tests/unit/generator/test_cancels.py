"""The generator's memory of cancel signals (pure logic)."""

from __future__ import annotations

import uuid

from sorami_generator.cancels import CancelRegistry
from sorami_generator.runner import Aborter


def test_a_running_job_is_told_and_a_queued_one_is_remembered() -> None:
    registry = CancelRegistry()
    running, queued = uuid.uuid4(), uuid.uuid4()
    aborter = Aborter()
    registry.track(running, aborter)
    registry.cancel(running)
    assert aborter.cancelled and aborter.aborted
    registry.cancel(queued)
    assert registry.signalled_at(queued) is not None
    late = Aborter()
    registry.track(queued, late)  # picked up after its cancel: stopped before its first step
    assert late.cancelled
    assert registry.signalled_at(uuid.uuid4()) is None


def test_memory_is_bounded_in_size_and_time() -> None:
    registry = CancelRegistry(max_entries=3)
    jobs = [uuid.uuid4() for _ in range(5)]
    for job in jobs:
        registry.cancel(job)
    assert [registry.signalled_at(j) is not None for j in jobs] == [False, False, True, True, True]
    forgetful = CancelRegistry(memory_s=1e-9)
    forgetful.cancel(jobs[0])
    assert forgetful.signalled_at(jobs[0]) is None
