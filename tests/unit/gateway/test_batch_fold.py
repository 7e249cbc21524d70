"""The batch path's fold (generations/batch_fold.py): the state rules applied event by event,
and only superseded progress left out of the user's log."""

from __future__ import annotations

import uuid

from sorami_gateway.generations.batch_fold import Row, coalesced, fold
from sorami_shared.events import (
    FailureCode,
    FileInfo,
    GenerationCompleted,
    GenerationFailed,
    GenerationProgress,
    Kind,
    new_event,
)

JOB = uuid.uuid4()
FILE = FileInfo(
    index=0, key=f"image/{JOB}/0.png", mime_type="image/png", bytes=1, width=8, height=8
)


def _row(status: str = "PENDING", progress: int = 0) -> Row:
    return Row(JOB, "alice", "image", status, progress, None, None, started=False)


def _progress(p: int):
    data = GenerationProgress(job_id=JOB, user_id="alice", kind=Kind.IMAGE, progress=p, step=p)
    return new_event(data, source="t", correlation_id="c")


def _completed():
    data = GenerationCompleted(
        job_id=JOB, user_id="alice", kind=Kind.IMAGE, model="m", seed=1, files=[FILE]
    )
    return new_event(data, source="t", correlation_id="c")


def _failed():
    data = GenerationFailed(
        job_id=JOB, user_id="alice", kind=Kind.IMAGE, code=FailureCode.INTERNAL, reason="boom"
    )
    return new_event(data, source="t", correlation_id="c")


def _types(folded) -> list[tuple[str, int]]:
    return [(t, d["progress"]) for _, t, d in folded.events]


def test_progress_in_one_batch_keeps_the_status_change_and_the_last_percent() -> None:
    out = fold(_row(), list(enumerate([_progress(0), _progress(40), _progress(20), _progress(60)])))
    assert out.row.status == "PROCESSING" and out.row.progress == 60 and out.started_now
    assert _types(out) == [("generation.status", 0), ("generation.progress", 60)]


def test_terminal_supersedes_progress_and_nothing_overtakes_it() -> None:
    events = [_progress(10), _completed(), _progress(90), _failed()]
    out = fold(_row(), list(enumerate(events)))
    assert out.row.status == "COMPLETED" and out.row.progress == 100 and out.finished_now
    assert _types(out) == [("generation.status", 10), ("generation.completed", 100)]


def test_failed_keeps_its_reason_and_percent() -> None:
    out = fold(_row("PROCESSING", 30), list(enumerate([_failed(), _completed()])))
    assert (out.row.status, out.row.progress, out.row.error) == ("FAILED", 30, "boom")
    assert out.row.error_code == "internal" and out.set_error
    assert [t for _, t, _ in out.events] == ["generation.failed"]


def test_a_final_job_is_not_changed() -> None:
    out = fold(_row("CANCELLED", 20), list(enumerate([_progress(50), _completed()])))
    assert not out.changed and out.events == []


def test_coalesced_only_drops_superseded_progress() -> None:
    events = [(0, "generation.progress", {}), (0, "generation.status", {})]
    assert coalesced(events) == events  # a status change alone supersedes nothing
    events = [(0, "generation.progress", {}), (1, "generation.progress", {"last": 1})]
    assert coalesced(events) == events[1:]
