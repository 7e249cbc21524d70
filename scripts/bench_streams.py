"""The users' event streams in bench_system.py: one per user, opened before the load, and what
must hold of them afterwards."""

from __future__ import annotations

import contextlib

from tests.e2e.system import System
from tests.support.sse import SseReader, sse_stream

TERMINAL = ("generation.completed", "generation.failed", "generation.cancelled")


def job_of(frame) -> str:  # type: ignore[no-untyped-def]
    """The job a frame is about (a notification carries it in its ``data``)."""
    return frame.data.get("job_id") or (frame.data.get("data") or {}).get("job_id", "")


def by_job(readers: dict[str, SseReader]) -> dict[str, list]:  # type: ignore[type-arg]
    out: dict[str, list] = {}  # type: ignore[type-arg]
    for reader in readers.values():
        for f in reader.events:
            out.setdefault(job_of(f), []).append(f)
    return out


def check_streams(readers: dict[str, SseReader], jobs: dict[str, str]) -> list[str]:
    """What is wrong with the users' streams (empty: every job's events arrived once, ids
    strictly rising, progress never falling, exactly one terminal and one notification)."""
    problems: list[str] = []
    for user, reader in readers.items():
        ids = [f.id for f in reader.events]
        if ids != sorted(set(ids)):
            problems.append(f"{user}: event ids not strictly rising")
    frames_of = by_job(readers)
    for job in jobs:
        frames = frames_of.get(job, [])
        finals = [f for f in frames if f.event in TERMINAL]
        notes = [f for f in frames if f.event == "notification.created"]
        progress = [f.data["progress"] for f in frames if f.event == "generation.progress"]
        if [f.event for f in finals] != ["generation.completed"]:
            problems.append(f"{job}: terminal events {[f.event for f in finals]}")
        if len(notes) != 1:
            problems.append(f"{job}: {len(notes)} notifications")
        if progress != sorted(progress):
            problems.append(f"{job}: progress fell {progress}")
        if finals and any(f.id > finals[0].id for f in frames if f.event.endswith("progress")):
            problems.append(f"{job}: progress after the terminal event")
    return problems


class Finished:
    """Jobs whose terminal event and notification both reached their user's stream, counted
    over the frames that came since the last call only (the burst polls it every 50 ms: a
    scan of every frame each time cost the load client a millisecond a job at 2,000 jobs)."""

    def __init__(self, readers: dict[str, SseReader]) -> None:
        self.readers, self.seen = readers, {u: 0 for u in readers}
        self.marks: dict[str, set[bool]] = {}  # job -> which came: notification (True), end
        self.finished: set[str] = set()

    def __call__(self, jobs: dict[str, str]) -> int:
        for user, reader in self.readers.items():
            frames = reader.frames
            for f in frames[self.seen[user] :]:
                if f.id is not None and f.event in (*TERMINAL, "notification.created"):
                    marks = self.marks.setdefault(job_of(f), set())
                    marks.add(f.event == "notification.created")
                    if len(marks) == 2:
                        self.finished.add(job_of(f))
            self.seen[user] = len(frames)
        return len(self.finished & jobs.keys())


class streams:
    """One event stream per user, opened before the load."""

    def __init__(self, system: System, users: list[str]) -> None:
        self.system, self.users, self.stack = system, users, None

    async def __aenter__(self) -> dict[str, SseReader]:
        self.stack = contextlib.AsyncExitStack()
        readers = {}
        for u in self.users:
            readers[u] = await self.stack.enter_async_context(
                sse_stream(self.system.base_url, token=self.system.token(u))
            )
        return readers

    async def __aexit__(self, *exc: object) -> None:
        await self.stack.aclose()  # type: ignore[union-attr]
