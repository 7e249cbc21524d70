"""The real ``sorami-gateway webhooks`` process: SIGKILLed in the middle of a delivery and
restarted, the event still arrives (a duplicate carries the same webhook-id); it exits 0 on
SIGTERM. Also measures the time from a projected ``completed`` to the receiver's 200."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import sys
import time
import uuid
from pathlib import Path

from tests.integration.gateway import projection_events as ev
from tests.integration.gateway.conftest import (
    SMALL_IMAGE,
    TEST_JWT_SECRET,
    TEST_MEDIA_SECRET,
    auth,
    eventually,
)

from .conftest import complete

EXE = str(Path(sys.executable).with_name("sorami-gateway"))


def _env(settings, log: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SORAMI_")}
    env.update(
        SORAMI_GATEWAY_ENVIRONMENT="test",
        SORAMI_GATEWAY_DATABASE_URL=settings.database_url,
        SORAMI_GATEWAY_JWT_SECRET=TEST_JWT_SECRET,
        SORAMI_GATEWAY_MEDIA_SIGNING_SECRET=TEST_MEDIA_SECRET,
        SORAMI_GATEWAY_STORAGE_LOCAL_DIR=str(settings.storage_local_dir),
        SORAMI_GATEWAY_PUBLIC_BASE_URL="http://testserver",
        SORAMI_GATEWAY_LOG_FORMAT="json",
        SORAMI_GATEWAY_WEBHOOKS__ALLOWED_NETWORKS='["127.0.0.0/8"]',
        SORAMI_GATEWAY_WEBHOOKS__ALLOW_HTTP="true",
        SORAMI_GATEWAY_WEBHOOKS__TIMEOUT_S="5",
        SORAMI_GATEWAY_WEBHOOKS__LEASE_S="6",
        SORAMI_GATEWAY_WEBHOOKS__POLL_INTERVAL_S="1",
        SORAMI_GATEWAY_WEBHOOKS__BACKOFF_BASE_S="0.1",
    )
    return env


async def _start(settings, log: Path) -> asyncio.subprocess.Process:
    out = log.open("ab")
    return await asyncio.create_subprocess_exec(
        EXE, "webhooks", env=_env(settings, log), stdout=out, stderr=out
    )


async def _job(client, url: str) -> uuid.UUID:
    r = await client.post(
        "/api/images/generate", json={**SMALL_IMAGE, "webhook_url": url}, headers=auth()
    )
    assert r.status_code == 202, r.text
    return uuid.UUID(r.json()["job_id"])


async def test_sigkill_mid_delivery_then_restart_delivers_with_the_same_id(
    settings, client, sessions, receiver, tmp_path
):
    log = tmp_path / "webhooks.log"
    receiver.hold = asyncio.Event()  # the first request hangs: the deliverer is mid-delivery
    job = await _job(client, f"{receiver.url}/kill")
    process = await _start(settings, log)
    try:
        await complete(settings, sessions, ev.completed(job, files=ev.image_files(job, 1)))
        await eventually(lambda: _count(receiver, 1), timeout=20)
        process.kill()  # SIGKILL, with the request in flight
        assert await asyncio.wait_for(process.wait(), 10) == -signal.SIGKILL
        receiver.hold.set()
        receiver.hold = None
        killed_at = time.monotonic()  # for the failure message
        process = await _start(settings, log)
        await eventually(lambda: _count(receiver, 2), timeout=60)
        restarted_after = receiver.received[1].at - killed_at
        retried_after = receiver.received[1].at - receiver.received[0].at
        items = (await client.get(f"/api/images/{job}/webhooks", headers=auth())).json()["items"]
        assert [i["status"] for i in items] == ["succeeded"]
        assert items[0]["attempts"] == 2
        ids = {r.headers["webhook-id"] for r in receiver.received}
        assert ids == {items[0]["webhook_id"]}
        assert all(json.loads(r.body)["data"]["job_id"] == str(job) for r in receiver.received)
        # after the dead attempt's lease (6 s from its claim, just before the first request)
        # ran out, not before
        assert retried_after >= 4, (retried_after, restarted_after)

        figures = await _latency(settings, client, sessions, receiver, 100)
        print(
            f"\n[webhooks] completed projected -> receiver 200: n={figures['n']} "
            f"p50={figures['p50_ms']:.1f} ms p99={figures['p99_ms']:.1f} ms "
            f"max={figures['max_ms']:.1f} ms (deliverer process, local receiver)"
        )
        assert figures["p50_ms"] < 1000
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), 15) == 0, log.read_text()[-2000:]


async def _latency(settings, client, sessions, receiver, n: int) -> dict[str, float]:
    """Jobs one after the other: the time from the commit of the projected ``completed``
    (Projector.handle returned) to the receiver having the request (it answers 200 at once)."""
    samples = []
    for _ in range(n):
        job = await _job(client, f"{receiver.url}/latency")
        before = len(receiver.received)
        await complete(settings, sessions, ev.completed(job, files=ev.image_files(job, 1)))
        committed = time.monotonic()
        await eventually(lambda b=before: _count(receiver, b + 1), timeout=10, interval=0.002)
        samples.append((receiver.received[before].at - committed) * 1000)
    samples.sort()
    return {
        "n": n,
        "p50_ms": statistics.median(samples),
        "p99_ms": samples[min(n - 1, round(0.99 * (n - 1)))],
        "max_ms": samples[-1],
    }


async def _count(receiver, n: int) -> bool:
    return len(receiver.received) >= n
