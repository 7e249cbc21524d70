"""What a notification says, and its deterministic ids (pure logic, no services)."""

from __future__ import annotations

import uuid

from sorami_notifier.content import draft_for, notification_event_id, notification_id
from sorami_shared.events import (
    FailureCode,
    FileInfo,
    GenerationCompleted,
    GenerationFailed,
    Kind,
    Outcome,
    derived_id,
)

JOB = uuid.UUID("00000000-0000-4000-8000-000000000001")


def _image(n: int = 1) -> GenerationCompleted:
    files = [
        FileInfo(
            index=i,
            key=f"image/{JOB}/{i}.png",
            mime_type="image/png",
            bytes=10,
            width=64,
            height=64,
        )
        for i in range(n)
    ]
    return GenerationCompleted(
        job_id=JOB, user_id="alice", kind=Kind.IMAGE, model="tiny-sd", seed=1, files=files
    )


def _video() -> GenerationCompleted:
    return GenerationCompleted(
        job_id=JOB,
        user_id="bob",
        kind=Kind.VIDEO,
        model="tiny-video",
        seed=1,
        files=[
            FileInfo(
                index=0,
                key=f"video/{JOB}/0.mp4",
                mime_type="video/mp4",
                bytes=10,
                width=64,
                height=64,
                fps=8,
                frame_count=8,
                duration_s=1.0,
                poster_key=f"video/{JOB}/0.png",
            )
        ],
    )


def test_completed_image() -> None:
    d = draft_for(_image(2))
    assert d.outcome is Outcome.COMPLETED
    assert d.title == "Your image is ready"
    assert "2 images (64x64)" in d.message and "tiny-sd" in d.message
    assert d.data == {"job_id": str(JOB), "kind": "image"}
    assert d.user_id == "alice"


def test_completed_video() -> None:
    d = draft_for(_video())
    assert d.title == "Your video is ready"
    assert "8 frames" in d.message and "1.0 s" in d.message
    assert d.data == {"job_id": str(JOB), "kind": "video"}


def test_failed_carries_reason() -> None:
    event = GenerationFailed(
        job_id=JOB,
        user_id="bob",
        kind=Kind.VIDEO,
        code=FailureCode.UNKNOWN_MODEL,
        reason="model 'nope' is not available",
    )
    d = draft_for(event)
    assert d.outcome is Outcome.FAILED
    assert d.title == "Your video failed"
    assert d.message == "Your video failed: model 'nope' is not available"


def test_long_reason_is_truncated() -> None:
    event = GenerationFailed(
        job_id=JOB, user_id="bob", kind=Kind.IMAGE, code=FailureCode.INTERNAL, reason="x" * 2000
    )
    assert len(draft_for(event).message) < 600


def test_ids_follow_the_conventions() -> None:
    nid = notification_id(JOB, Outcome.COMPLETED)
    assert nid == derived_id("notification", JOB, "completed")
    assert notification_event_id(nid) == derived_id("notification.created", nid)
    assert draft_for(_image()).id == nid
    assert notification_id(JOB, Outcome.FAILED) != nid
