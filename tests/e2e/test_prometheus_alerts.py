"""A real Prometheus (Debian's binary) scrapes every process of a whole system on its metrics
port, with deploy/observability/alerts.yml loaded as shipped except for ``for:``, shortened to
2 s by scripts/alert_rules_for.py (scrape and evaluation every 1 s). Then, on the real system,
each alert is provoked the way on-call would meet it and read through ``/api/v1/alerts``:

- jobs of a model no generator can load: SoramiJobsFailing fires;
- every generator stopped while jobs are queued: SoramiNoGeneratorConsuming fires, and clears
  once a generator is back;
- the relay stopped while jobs are created: SoramiOutboxBacklogOld fires (its threshold, 60 s
  of age, is kept; the job is made 50 s older in the database rather than waited for), and
  clears once the relay is back;
- meanwhile, a garbage message: SoramiDeadLetters fires, and clears once the DLQ is purged.

Before that, after a few jobs, every panel's PromQL of deploy/observability/grafana-dashboard.json
evaluates without error, and every panel but the failure panels returns a series. The time each
alert took to fire and to clear is printed (``[alerts]`` lines).
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from pathlib import Path

import aio_pika
import asyncpg
import pytest
from sorami_gateway.infra.db import asyncpg_dsn
from sorami_shared.topology import GENERATOR_REQUESTS

from tests.e2e.system import Proc, System, wait_terminal
from tests.support.prometheus import Prometheus

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "deploy" / "observability"
GHOST = "ghost-image"  # in the gateway's registry, not loadable by the generator: FAILED
SMALL = {"width": 64, "height": 64, "num_inference_steps": 2}
# panels about failures: they may rightly be empty on a healthy system
FAILURE_PANELS = {"Failures / s by code", "DLQ depth", "Out of memory / generator outcomes"}


async def stop_proc(proc: Proc) -> int:
    assert proc.popen is not None and proc.alive()
    proc.popen.send_signal(signal.SIGTERM)
    return await asyncio.to_thread(proc.popen.wait, 30)


async def create(system: System, kind: str, body: dict, user: str = "alerts-ann") -> str:
    async with system.client(user) as c:
        r = await c.post(f"/api/{kind}s/generate", json={**SMALL, **body})
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


async def settle(system: System, jobs: list[tuple[str, str]]) -> list[str]:
    async with system.client("alerts-ann") as c:
        return [
            (await wait_terminal(c, kind, job_id, within_s=120, interval=0.2))[0]["status"]
            for kind, job_id in jobs
        ]


def panels() -> list[dict]:
    dashboard = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text())
    return [p for p in dashboard["panels"] if p.get("targets")]


@pytest.fixture
async def prometheus(tmp_path: Path):
    started: list[Prometheus] = []

    async def start(targets: dict[str, int]) -> Prometheus:
        prom = Prometheus(tmp_path / "prometheus", targets, [OBSERVABILITY / "alerts.yml"])
        started.append(prom)
        await prom.start()
        return prom

    yield start
    for prom in started:
        prom.stop()


async def test_alerts_fire_and_clear_and_panels_return_data(make_system, prometheus) -> None:
    system: System = await make_system(
        image_models=["tiny-image", GHOST],
        gateway_models={GHOST: {"source": "ghost/none", "kind": "image"}},
        # a generator answers for it (its queue) without knowing it: unknown_model
        generator_overrides={"SERVE_MODELS": json.dumps(["tiny-image", "tiny-video", GHOST])},
        watchdog=True,
    )
    prom = await prometheus(dict(system.metrics_ports))
    await prom.wait_targets_up(within_s=30)
    assert not await prom.alerts(), "a healthy, idle system has active alerts"
    times: dict[str, dict[str, float]] = {}

    # ---- a few jobs in two waves (so that rates see increments), then every panel ---------
    first = [("image", await create(system, "image", {"prompt": "a fox"}))]
    assert await settle(system, first) == ["COMPLETED"]
    await asyncio.sleep(3)
    second = [
        ("image", await create(system, "image", {"prompt": "a cat", "num_images": 2})),
        ("video", await create(system, "video", {"prompt": "waves", "num_frames": 4, "fps": 4})),
        ("image", await create(system, "image", {"prompt": "an owl"})),
    ]
    assert await settle(system, second) == ["COMPLETED"] * 3
    await asyncio.sleep(3)  # two scrapes and samples after the last job
    empty: list[str] = []
    for panel in panels():
        results = [await prom.query(t["expr"]) for t in panel["targets"]]  # errors: 400
        if not any(results) and panel["title"] not in FAILURE_PANELS:
            empty.append(panel["title"])
    print(f"[alerts] {len(panels())} dashboard panels evaluated; empty: {empty}")
    assert not empty, f"panels without a series after real jobs: {empty}"

    # ---- SoramiJobsFailing: jobs of a model that cannot load -------------------------------
    # the first failure creates the counter's series (rate() cannot see its first increment)
    assert await settle(
        system, [("image", await create(system, "image", {"model": GHOST, "prompt": "x"}))]
    ) == ["FAILED"]
    await asyncio.sleep(2)
    t0 = time.monotonic()
    ghosts = [
        ("image", await create(system, "image", {"model": GHOST, "prompt": f"g{i}"}))
        for i in range(9)
    ]
    assert set(await settle(system, ghosts)) == {"FAILED"}
    [alert] = await prom.wait_firing("SoramiJobsFailing", within_s=60)
    times["SoramiJobsFailing"] = {"fire_s": time.monotonic() - t0}
    assert alert["labels"]["severity"] == "warning"
    assert (
        "of the jobs that ended in the last 15 minutes FAILED"
        in alert["annotations"]["description"]
    )

    # ---- SoramiNoGeneratorConsuming: every generator stopped while jobs are queued ---------
    [generator] = [p for p in system.procs if p.name.startswith("generator")]
    assert await stop_proc(generator) == 0
    t0 = time.monotonic()
    queued = [("image", await create(system, "image", {"prompt": f"queued {i}"})) for i in range(2)]
    [alert] = await prom.wait_firing("SoramiNoGeneratorConsuming", within_s=60)
    times["SoramiNoGeneratorConsuming"] = {"fire_s": time.monotonic() - t0}
    # the jobs wait in the scheduler's queue for their model's generator queue
    assert alert["labels"]["queue"].startswith("generator.requests.")
    assert alert["annotations"]["description"].startswith("2 job(s) wait in generator.requests.")

    # a generator comes back: the scheduler (in the relay) releases the jobs that waited for it
    generator.start()
    t0 = time.monotonic()
    await prom.wait_cleared("SoramiNoGeneratorConsuming", within_s=120)
    times["SoramiNoGeneratorConsuming"]["clear_s"] = time.monotonic() - t0
    assert await settle(system, queued) == ["COMPLETED"] * 2

    # ---- SoramiOutboxBacklogOld: the relay stopped while jobs are created ------------------
    # (its threshold, 60 s of age, is kept: the next alert runs while it builds up). The job
    # waits in the scheduler's queue, which the watchdog samples while the relay is down.
    [relay] = [p for p in system.procs if p.name == "gateway-relay"]
    assert await stop_proc(relay) == 0
    t_relay = time.monotonic()
    stuck = [("image", await create(system, "image", {"prompt": "stuck"}))]
    # time travel instead of a minute's wait: the job has waited 50 s already (the rule's 60 s
    # threshold is kept; its age keeps growing from there as it would)
    db = await asyncpg.connect(asyncpg_dsn(system.database_urls["gateway"]))
    try:
        moved = await db.execute(
            "UPDATE generation_queue SET enqueued_at = enqueued_at - interval '50 seconds'"
            " WHERE job_id = $1",
            uuid.UUID(stuck[0][1]),
        )
        assert moved == "UPDATE 1", moved
    finally:
        await db.close()

    # ---- SoramiDeadLetters: a garbage message on the generator's queue ---------------------
    connection = await aio_pika.connect(system.amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange("sorami.events")
        t0 = time.monotonic()
        await exchange.publish(
            aio_pika.Message(b"\x00 not json {", delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key="generation.requested",
        )
        [alert] = await prom.wait_firing("SoramiDeadLetters", within_s=60)
        times["SoramiDeadLetters"] = {"fire_s": time.monotonic() - t0}
        assert alert["labels"]["queue"] == GENERATOR_REQUESTS.dead_letter_queue
        assert alert["annotations"]["description"].startswith(
            f"1 message(s) in {GENERATOR_REQUESTS.dead_letter_queue}"
        )
        dlq = await channel.declare_queue(GENERATOR_REQUESTS.dead_letter_queue, passive=True)
        t0 = time.monotonic()
        assert await dlq.purge()
        await prom.wait_cleared("SoramiDeadLetters", within_s=60)
        times["SoramiDeadLetters"]["clear_s"] = time.monotonic() - t0
    finally:
        await connection.close()

    [alert] = await prom.wait_firing("SoramiOutboxBacklogOld", within_s=120)
    times["SoramiOutboxBacklogOld"] = {"fire_s": time.monotonic() - t_relay}
    assert alert["labels"]["severity"] == "critical"
    assert "relay is down or cannot publish" in alert["annotations"]["description"]
    relay.start()
    t0 = time.monotonic()
    await prom.wait_cleared("SoramiOutboxBacklogOld", within_s=90)
    times["SoramiOutboxBacklogOld"]["clear_s"] = time.monotonic() - t0
    assert await settle(system, stuck) == ["COMPLETED"]

    for name, figures in times.items():
        shown = ", ".join(f"{k}={v:.1f}" for k, v in figures.items())
        print(f"[alerts] {name}: {shown} (for: 2s, scrape/eval 1 s, samples 1 s)")
