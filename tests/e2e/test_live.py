"""Live progress, cancel and delete on the whole system (real processes, two generator
replicas): a client on the event stream sees its own jobs move PENDING → PROCESSING →
progress rising → COMPLETED, in order, and nothing of another user's; a reconnect with
``Last-Event-ID`` loses nothing; a cancel stops the generator within two denoising steps and
leaves no file row or object; a delete removes rows and objects. Prints the measured cancel
latency and the stream's delivery latency (median and p99)."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.system import System
from tests.e2e.test_system_local import sorami
from tests.support.sse import Frame, sse_stream

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

FAST = {"prompt": "a fox", "width": 128, "height": 128, "num_inference_steps": 8}
SLOW = {"prompt": "a slow fox", "width": 160, "height": 160, "num_inference_steps": 40}
CANCELS = 4


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def cancel_records(system: System) -> dict[str, dict[str, Any]]:
    """``job cancelled`` log lines of every generator replica, by job id."""
    out: dict[str, dict[str, Any]] = {}
    for p in system.procs:
        if p.name.startswith("generator"):
            for line in p.log_path.read_text(errors="replace").splitlines():
                if '"job cancelled"' in line:
                    record = json.loads(line)
                    out[record["job_id"]] = {**record, "replica": p.name}
    return out


async def _submit(http: httpx.AsyncClient, body: dict[str, Any]) -> str:
    r = await http.post("/api/images/generate", json=body)
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


def _job_of(frame: Frame) -> str | None:
    """The job a frame is about (a notification names it in its ``data``)."""
    return frame.data.get("job_id") or (frame.data.get("data") or {}).get("job_id")


def _done(job: str):
    return lambda r: any(
        f.event in ("generation.completed", "generation.failed") for f in r.for_job(job)
    )


async def test_stream_cancel_delete_on_the_whole_system(make_system) -> None:
    system: System = await make_system(generators=2)
    media = Path(system.storage_env["STORAGE_LOCAL_DIR"])
    alice, bob = system.client("alice"), system.client("bob")
    async with alice, bob:
        token = (await alice.post("/api/events/token")).json()["stream_token"]
        async with (
            sse_stream(system.base_url, stream_token=token) as reference,
            sse_stream(system.base_url, token=system.token("bob")) as bob_stream,
        ):
            # --- own events, in order; a reconnect loses nothing --------------------------
            async with sse_stream(system.base_url, token=system.token("alice")) as first:
                jobs = [await _submit(alice, FAST) for _ in range(3)]
                bob_job = await _submit(bob, FAST)
                await first.wait_for(lambda r: len(r.events) >= 3)
                cut = first.last_id
                kept = list(first.events)
            jobs += [await _submit(alice, FAST) for _ in range(3)]
            async with sse_stream(
                system.base_url, token=system.token("alice"), last_event_id=cut
            ) as resumed:
                for job in jobs:
                    await resumed.wait_for(_done(job), timeout=120)
                await reference.wait_for(lambda r: r.last_id == resumed.last_id, timeout=10)
                assert [f.id for f in kept + resumed.events] == [
                    f.id for f in reference.events if f.id <= resumed.last_id
                ], "events lost or duplicated across the reconnect"
            rising: list[int] = []
            for job in jobs:
                frames = reference.for_job(job)
                statuses = [f.data["status"] for f in frames]
                assert statuses[0] == "PENDING" and statuses[-1] == "COMPLETED", statuses
                assert "PROCESSING" in statuses
                progress = [f.data["progress"] for f in frames if f.event == "generation.progress"]
                assert len(set(progress)) >= 2 and progress == sorted(progress), progress
                rising.append(len(set(progress)))
                assert [f.id for f in frames] == sorted(f.id for f in frames)
            assert max(rising) >= 3, rising  # progress values seen rising on the stream
            assert not reference.for_job(bob_job)
            await bob_stream.wait_for(_done(bob_job), timeout=60)
            await bob_stream.wait_for(
                lambda r: any(f.event == "notification.created" for f in r.events), timeout=30
            )
            assert {_job_of(f) for f in bob_stream.events} == {bob_job}
            assert bob_job not in {_job_of(f) for f in reference.events}
            await reference.wait_for(
                lambda r: len([f for f in r.events if f.event == "notification.created"]) >= 6,
                timeout=30,
            )

            # --- cancel running jobs: stopped within two steps, nothing left ---------------
            cancel_ms, cancel_steps = [], []
            for _ in range(CANCELS):
                job = await _submit(alice, SLOW)
                await reference.wait_for(
                    lambda r, job=job: any((f.data.get("step") or 0) >= 2 for f in r.for_job(job)),
                    timeout=120,
                )
                requested = time.time()
                r = await alice.post(f"/api/images/{job}/cancel")
                assert r.status_code == 202 and r.json()["status"] == "CANCELLED", r.text
                record = await _eventually(lambda job=job: cancel_records(system).get(job), 30)
                steps_after = sum(1 for t in record["step_ended_at"] if t > requested)
                cancel_steps.append(steps_after)
                cancel_ms.append((record["stopped_at"] - requested) * 1000)
                assert steps_after <= 2, record
                assert record["stopped_after_step"] < SLOW["num_inference_steps"]
                await reference.wait_for(
                    lambda r, job=job: any(
                        f.event == "generation.cancelled" for f in r.for_job(job)
                    ),
                    timeout=10,
                )
                result = (await alice.get(f"/api/images/{job}/result")).json()
                assert result["status"] == "CANCELLED" and result["files"] == []
                assert not (media / "image" / job).exists()
            replicas = {cancel_records(system)[j]["replica"] for j in cancel_records(system)}
            again = await sorami(system, "alice", "cancel", job)
            assert again.returncode == 0 and json.loads(again.stdout)["status"] == "CANCELLED"
            late = await sorami(system, "alice", "cancel", jobs[0], "--kind", "image")
            assert late.returncode == 1 and "HTTP 409" in late.stderr

            # --- the CLI follows the stream (no polling fallback) ---------------------------
            cli = await sorami(
                system,
                "alice",
                "generate",
                "image",
                "x",
                "--width",
                "64",
                "--height",
                "64",
                "--steps",
                "2",
                "--wait",
                "--out",
                str(media.parent / "cli-out"),
                "--json",
            )
            assert cli.returncode == 0 and "polling instead" not in cli.stderr, cli.stderr
            assert json.loads(cli.stdout)["status"] == "COMPLETED"

            # --- delete: rows and objects go; idempotent -----------------------------------
            victim = jobs[0]
            assert list((media / "image" / victim).iterdir())
            assert (await alice.delete(f"/api/images/{victim}")).status_code == 204
            assert (await alice.get(f"/api/images/{victim}/status")).status_code == 404
            await _eventually(lambda: not (media / "image" / victim).exists(), 30)
            assert (await alice.delete(f"/api/images/{victim}")).status_code == 204
            history = (await alice.get("/api/images/user", params={"limit": 100})).json()
            assert victim not in {i["job_id"] for i in history["items"]}
            await reference.wait_for(
                lambda r: any(f.event == "generation.deleted" for f in r.for_job(victim))
            )

        # --- figures ---------------------------------------------------------------------
        logged = [f.received_at - _epoch(f.data["logged_at"]) for f in reference.events]
        published = [
            f.received_at - _epoch(f.data["at"])
            for f in reference.events
            if f.data.get("at") and f.event in ("generation.progress", "generation.completed")
        ]
        _report(cancel_ms, cancel_steps, logged, published, replicas)


def _report(cancel_ms, cancel_steps, logged, published, replicas) -> None:
    def line(name: str, values: list[float], unit: str, scale: float = 1.0) -> str:
        v = [x * scale for x in values]
        return (
            f"[e2e] {name}: median {statistics.median(v):.1f} {unit}, p99 {p99(v):.1f} {unit}"
            f", max {max(v):.1f} {unit} (n={len(v)})"
        )

    print(line("cancel latency, request -> generator stopped", cancel_ms, "ms"))
    print(line("cancel latency in denoising steps after the request", cancel_steps, "steps"))
    print(f"[e2e] cancelled jobs ran on replicas: {sorted(replicas)}")
    print(line("stream delivery, event committed -> client received", logged, "ms", 1000))
    print(line("stream delivery, generator published -> client received", published, "ms", 1000))


async def _eventually(check, within: float):
    deadline = time.monotonic() + within
    while not (result := check()):
        assert time.monotonic() < deadline, f"not within {within}s"
        await asyncio.sleep(0.05)
    return result
