"""The scheduler under a mixed load (issue 25): the whole system (every service its own process,
as ``make bench-system`` starts it), the test-only ``builtin:instant`` model with a set pipeline
call time (``SORAMI_GENERATOR_INSTANT_STEP_S`` x steps, whatever the batch size, as one batched
call on a GPU), one generator. One user submits a big batch (``POST /api/batches``) while 5
interactive users each send a job every 2 s. Prints, for the fair scheduler and for FIFO (the
relay restarted with ``SORAMI_GATEWAY_SCHEDULER_POLICY=fifo``, the baseline):

- interactive queue wait (created -> started) p50/p95, against 2 x one pipeline call;
- batch throughput vs the same batch alone (batch jobs/s; and every job/s, interactive ones
  included: what the scheduler keeps of the generator's rate);
- Jain's fairness index over the 5 interactive users' mean turnaround (created -> completed);
- position accuracy: of the queue positions stored while the batch waited, the share of
  neighbours (by position) that started in that order (within one pipeline call: jobs of one
  call start together).

    make bench-scheduler                       # 1000-job batch
    .venv/bin/python scripts/bench_scheduler.py --smoke   # a test: small batch, fast calls
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from bench_system import INSTANT  # noqa: E402
from sorami_generator.batching import INTERACTIVE_ROOM  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from tests.e2e.system import System  # noqa: E402
from tests.support.infra import (  # noqa: E402
    create_database,
    create_vhost,
    delete_vhost,
    drop_database,
    unique_name,
)

USERS = [f"interactive-{i}" for i in range(5)]
BATCH_USER = "batch-owner"
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")


@dataclass(frozen=True)
class Config:
    batch: int
    steps: int
    step_s: float
    max_batch: int
    every_s: float = 2.0

    @property
    def call_s(self) -> float:
        return self.steps * self.step_s

    @property
    def prefetch(self) -> int:  # the generator's default, what the scheduler must fill
        return 2 * self.max_batch + INTERACTIVE_ROOM


FULL = Config(batch=1000, steps=4, step_s=0.25, max_batch=16)
SMOKE = Config(batch=120, steps=2, step_s=0.05, max_batch=8)


def body(config: Config, prompt: str) -> dict:
    return {"prompt": prompt, "model": "instant", "num_inference_steps": config.steps} | {
        "width": 64,
        "height": 64,
    }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def jain(values: list[float]) -> float:
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values)) if values else 0.0


async def rows(engine, ids: list[str]) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        result = await conn.execute(
            sa.text(
                "SELECT id::text, user_id, status, extract(epoch FROM created_at)::float8,"
                " extract(epoch FROM started_at)::float8, extract(epoch FROM completed_at)::float8"
                " FROM generations WHERE id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"ids": ids},
        )
        return {
            r[0]: {"user": r[1], "status": r[2], "created": r[3], "started": r[4], "done": r[5]}
            for r in result.all()
        }


async def wait_terminal(engine, ids: list[str], within_s: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within_s
    while True:
        found = await rows(engine, ids)
        if all(found.get(i, {}).get("status") in TERMINAL for i in ids):
            return
        assert time.monotonic() < deadline, "jobs not finished in time"
        await asyncio.sleep(0.2)


async def submit_batch(http: httpx.AsyncClient, system: System, config: Config) -> list[str]:
    requests = [body(config, f"batch item {i}") for i in range(config.batch)]
    r = await http.post(
        "/api/batches",
        json={"kind": "image", "requests": requests},
        headers={"Authorization": f"Bearer {system.token(BATCH_USER)}"},
    )
    assert r.status_code == 202, r.text
    return [str(j) for j in r.json()["job_ids"]]


async def snapshot_positions(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        result = await conn.execute(
            sa.text(
                "SELECT job_id::text, position FROM generation_queue WHERE position IS NOT NULL"
            )
        )
        return {r[0]: r[1] for r in result.all()}


async def run(system: System, engine, config: Config, *, interactive: bool) -> dict:  # type: ignore[no-untyped-def]
    """One batch, with or without the interactive users; figures from the database."""
    async with httpx.AsyncClient(base_url=system.base_url, timeout=60) as http:
        batch = await submit_batch(http, system, config)
        positions: dict[str, int] = {}
        mine: list[str] = []

        async def batch_done() -> bool:
            found = await rows(engine, batch)
            return all(found.get(i, {}).get("status") in TERMINAL for i in batch)

        async def user(name: str, offset: float) -> None:
            await asyncio.sleep(offset)
            headers = {"Authorization": f"Bearer {system.token(name)}"}
            while not finished.is_set():
                r = await http.post(
                    "/api/images/generate", json=body(config, name), headers=headers
                )
                assert r.status_code == 202, r.text
                mine.append(r.json()["job_id"])
                with_timeout = asyncio.wait_for(finished.wait(), config.every_s)
                try:
                    await with_timeout
                except TimeoutError:
                    pass

        finished = asyncio.Event()
        users = [
            asyncio.create_task(user(u, k * config.every_s / len(USERS)))
            for k, u in enumerate(USERS if interactive else [])
        ]
        snapped = False
        deadline = time.monotonic() + 600
        while not await batch_done():
            if not snapped:
                positions = await snapshot_positions(engine)
                snapped = len(positions) >= min(config.batch // 2, 50)
            assert time.monotonic() < deadline, "batch not finished in time"
            await asyncio.sleep(0.25)
        finished.set()
        await asyncio.gather(*users)
    await wait_terminal(engine, mine, 120)
    found = await rows(engine, batch + mine)
    b = [found[i] for i in batch]
    span = max(r["done"] for r in b) - min(r["created"] for r in b)
    in_span = [r for r in found.values() if r["done"] and r["done"] <= max(x["done"] for x in b)]
    waits = [found[i]["started"] - found[i]["created"] for i in mine if found[i]["started"]]
    turnaround: dict[str, list[float]] = {}
    for i in mine:
        turnaround.setdefault(found[i]["user"], []).append(found[i]["done"] - found[i]["created"])
    return {
        "batch_s": span,
        "batch_jobs_s": len(b) / span,
        "all_jobs_s": len(in_span) / span,
        "failed": sum(r["status"] != "COMPLETED" for r in found.values()),
        "interactive_jobs": len(mine),
        "waits": waits,
        "jain": jain([statistics.mean(v) for v in turnaround.values()]) if turnaround else None,
        "accuracy": accuracy(positions, found, config.call_s),
    }


def accuracy(positions: dict[str, int], found: dict[str, dict], tolerance_s: float) -> float:
    ranked = sorted((p, j) for j, p in positions.items() if found.get(j, {}).get("started"))
    pairs = list(zip(ranked, ranked[1:], strict=False))
    if not pairs:
        return 0.0
    ok = sum(found[a]["started"] <= found[b]["started"] + tolerance_s for (_, a), (_, b) in pairs)
    return ok / len(pairs)


async def restart_relay(system: System, policy: str) -> None:
    proc = next(p for p in system.procs if p.name == "gateway-relay")
    proc.popen.terminate()  # type: ignore[union-attr]
    await asyncio.to_thread(proc.popen.wait, 30)  # type: ignore[union-attr]
    proc.env = {**proc.env, "SORAMI_GATEWAY_SCHEDULER_POLICY": policy}
    proc.start()
    await asyncio.sleep(2)


async def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="a small batch, fast calls (a test)")
    p.add_argument("--batch", type=int, help="jobs in the batch")
    p.add_argument("--models", type=Path, default=ROOT / ".data" / "models")
    args = p.parse_args(argv)
    config = SMOKE if args.smoke else FULL
    if args.batch:
        config = Config(args.batch, config.steps, config.step_s, config.max_batch)
    base = Path(tempfile.mkdtemp(prefix="sorami-bench-scheduler-"))
    names = {s: unique_name(f"bench_sched_{s}") for s in ("gateway", "notifier")}
    urls = {s: await create_database(n) for s, n in names.items()}
    vhost = unique_name("bench_sched")
    system = System(
        base_dir=base,
        database_urls=urls,
        amqp_url=create_vhost(vhost),
        storage_env={"STORAGE_BACKEND": "local", "STORAGE_LOCAL_DIR": str(base / "media")},
        model_cache_dir=args.models,
        image_models=["tiny-image", "instant"],
        gateway_models={"instant": INSTANT},
        gateway_overrides={
            "RATE_LIMIT_GENERATIONS": "0",
            "MAX_UNFINISHED_JOBS": "0",
            # the generator's default prefetch: a call running, a full one ready, and the
            # default SCHEDULER_INTERACTIVE_RESERVE that never goes to the batch
            "SCHEDULER_SLOTS_PER_CONSUMER": str(config.prefetch),
            "SCHEDULER_POSITION_INTERVAL_S": "0.5",
            "SCHEDULER_POLL_INTERVAL_S": "0.5",
        },
        generator_overrides={
            "MODELS": json.dumps({"instant": INSTANT}),
            "PRELOAD_MODELS": json.dumps(["instant"]),
            "SERVE_MODELS": json.dumps(["instant"]),
            "MAX_BATCH": str(config.max_batch),
            "MAX_BATCH_IMAGES": str(config.max_batch),
            "PREFETCH": str(config.prefetch),
            "INSTANT_STEP_S": str(config.step_s),
        },
    )
    engine = create_async_engine(urls["gateway"], pool_size=2)
    try:
        await system.start(within_s=180)
        results = {"config": config, "alone": await run(system, engine, config, interactive=False)}
        results["fair"] = await run(system, engine, config, interactive=True)
        await restart_relay(system, "fifo")
        results["fifo"] = await run(system, engine, config, interactive=True)
    finally:
        await engine.dispose()
        await system.stop()
        for n in names.values():
            await drop_database(n)
        delete_vhost(vhost)
        shutil.rmtree(base, ignore_errors=True)
    print(report(results), flush=True)
    return results


def report(results: dict) -> str:
    config, alone = results["config"], results["alone"]
    lines = [
        f"== scheduler: a {config.batch}-job batch + {len(USERS)} interactive users (a job every "
        f"{config.every_s:g} s each); instant model, one pipeline call {config.call_s:.2f} s "
        f"(max_batch {config.max_batch}, prefetch = scheduler slots {config.prefetch}, "
        f"{INTERACTIVE_ROOM} kept for interactive jobs), 1 generator",
        f"  batch alone: {alone['batch_s']:.1f} s, {alone['batch_jobs_s']:.1f} jobs/s",
    ]
    for policy in ("fair", "fifo"):
        r = results[policy]
        waits = r["waits"]
        others = r["all_jobs_s"] - r["batch_jobs_s"]  # interactive jobs/s during the batch
        left = max(alone["batch_jobs_s"] - others, 1e-9)  # what a full generator left the batch
        p50, p95 = pct(waits, 0.5), pct(waits, 0.95)
        target = 2 * config.call_s
        lines += [
            f"-- {policy}",
            f"  interactive queue wait p50 {p50:.2f} s  p95 {p95:.2f} s  ({len(waits)} jobs; "
            f"target p95 <= {target:.2f} s: {'met' if p95 <= target else 'NOT met'})",
            f"  every job {r['all_jobs_s']:.1f} jobs/s = "
            f"{100 * r['all_jobs_s'] / alone['all_jobs_s']:.1f} % of the batch alone "
            "(target >= 95 %)",
            f"  batch throughput {r['batch_jobs_s']:.1f} jobs/s = "
            f"{100 * r['batch_jobs_s'] / alone['batch_jobs_s']:.1f} % of alone; the interactive "
            f"jobs took {others:.1f} jobs/s, so the batch had {left:.1f} left: "
            f"{100 * r['batch_jobs_s'] / left:.1f} % of it",
            f"  Jain's fairness (5 users' mean turnaround) {r['jain']:.3f} (target >= 0.95)",
            f"  position accuracy {100 * r['accuracy']:.1f} % (target >= 95 %)",
            f"  failed jobs {r['failed']}",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    asyncio.run(main())
