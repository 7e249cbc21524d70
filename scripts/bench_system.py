"""The whole system under load (issue 23): every service as its own process (as ``make up``
and the end-to-end tests start them), a private RabbitMQ node, fresh databases; one-image jobs
from many users, each user reading its event stream (``GET /api/events``). Prints, per case,
each process's CPU milliseconds per job (from ``/proc``, minus its idle rate measured just
before), end-to-end jobs/s, a lone job's created -> completed time, and checks that every
user's stream got every job's events once (no duplicate, no gap, progress only rising).

    make bench-system                       # instant and tiny-image, 4 and 20 steps
    .venv/bin/python scripts/bench_system.py --smoke
    .venv/bin/python scripts/bench_system.py --gpu-rate   # 2000 jobs, 100 users, max_batch 64

``builtin:instant`` is a test-only model (sorami_generator/instant_model.py): noise of the
size asked, no compute, so the control plane's own ceiling shows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from bench_cpu import CpuMeter, Group, PgBackends, descendants  # noqa: E402
from bench_streams import TERMINAL, Finished, check_streams, streams  # noqa: E402

from services.gateway.benchmarks.loadgen import encode, exchange  # noqa: E402
from tests.e2e.system import System  # noqa: E402
from tests.faults.rabbit_node import PrivateRabbitNode  # noqa: E402
from tests.support.infra import PG_HOST, PG_PORT, PG_USER, create_database, drop_database  # noqa: E402
from tests.support.sse import SseReader  # noqa: E402

INSTANT = {
    "source": "builtin:instant",
    "kind": "image",
    "pipeline": "InstantPipeline",
    "defaults": {"width": 64, "height": 64, "num_inference_steps": 4},
    "max_steps": 50,
}
GENERATOR = "generator"  # excluded from "everything except the generator"
# This process: the users' HTTP clients and event streams, and the meter. Not the system:
# printed apart, and the share of the two cores it leaves the system bounds jobs/s here.
CLIENT = "load client (not the system)"
# The smoke run (a test) only checks that every figure comes out: shorter waits, fewer jobs.
SETTLE_S, IDLE_S, LONE_JOBS = 3.0, 5.0, 10
SETTLE_S_SMOKE, IDLE_S_SMOKE, LONE_JOBS_SMOKE = 1.0, 2.0, 4


@dataclass(frozen=True)
class Case:
    model: str
    steps: int
    jobs: int
    users: int
    max_batch: int | None = None
    projectors: int = 1
    notifiers: int = 1
    smoke: bool = False

    @property
    def label(self) -> str:
        extra = f", max_batch {self.max_batch}" if self.max_batch else ""
        reps = f", {self.projectors} projectors" if self.projectors > 1 else ""
        return (
            f"{self.model}, {self.steps} steps, {self.jobs} jobs / {self.users} users{extra}{reps}"
        )


async def submit(system: System, case: Case, users: list[str], n: int) -> dict[str, str]:
    """``n`` jobs, users taking turns, 32 keep-alive connections each sending its next request
    when the last is answered. The load client is the machine's too: requests are encoded
    before the burst and sent on raw sockets (benchmarks/loadgen.py's way; httpx cost about
    1 ms of CPU a request). A request whose connection the server closed (keep-alive race) is
    sent again on a new one with the same Idempotency-Key: it can never make a second job."""
    body = {"prompt": "a lighthouse", "model": case.model, "num_inference_steps": case.steps}
    raw = json.dumps(body | {"width": 64, "height": 64}).encode()
    tokens = {u: f"Bearer {system.token(u)}" for u in users}
    queue = [users[i % len(users)] for i in range(n)]
    requests = [
        (u, encode("POST", "/api/images/generate", {
            "Authorization": tokens[u], "Idempotency-Key": uuid.uuid4().hex,
            "Content-Type": "application/json"}, raw))
        for u in queue
    ]  # fmt: skip
    port = int(system.base_url.rsplit(":", 1)[1])
    jobs: dict[str, str] = {}

    async def worker() -> None:
        conn = await asyncio.open_connection("127.0.0.1", port)
        while requests:
            user, request = requests.pop()
            for attempt in range(5):
                try:
                    status, answer = await exchange(*conn, request)
                    break
                except (ConnectionError, asyncio.IncompleteReadError):
                    if attempt == 4:
                        raise
                    conn[1].close()
                    conn = await asyncio.open_connection("127.0.0.1", port)
            assert status == 202, answer
            jobs[json.loads(answer)["job_id"]] = user
        conn[1].close()

    await asyncio.gather(*(worker() for _ in range(min(32, n))))
    return jobs


def cpu_groups(system: System, node: PrivateRabbitNode) -> list[Group]:
    groups = []
    for proc in system.procs:
        pid = proc.popen.pid  # type: ignore[union-attr]
        groups.append(Group(proc.name, lambda pid=pid: descendants(pid)))
    groups.append(Group("rabbitmq (beam.smp)", lambda: {node.beam_pid}))
    groups.append(Group(CLIENT, lambda: {os.getpid()}))
    return groups


async def measure(meter_groups: list[Group], backends: PgBackends, work):  # type: ignore[no-untyped-def]
    meter = CpuMeter(
        meter_groups + [Group("postgresql backends", lambda: backends.current)], backends
    )
    await meter.start()
    started = time.monotonic()
    result = await work()
    used = await meter.stop()
    return used, time.monotonic() - started, result


async def run_case(case: Case, node: PrivateRabbitNode, base: Path, models: Path) -> dict:
    vhost = f"bench_{uuid.uuid4().hex[:8]}"
    node.ctl("add_vhost", vhost)
    node.ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    names = {s: f"bench_{s}_{uuid.uuid4().hex[:8]}" for s in ("gateway", "notifier")}
    urls = {s: await create_database(n) for s, n in names.items()}
    registry = json.dumps({"instant": INSTANT})
    gen = {"MODELS": registry, "PRELOAD_MODELS": json.dumps([case.model])}
    gateway = {"RATE_LIMIT_GENERATIONS": "0", "MAX_UNFINISHED_JOBS": "0"}
    if case.max_batch:
        # as the gpu k8s component deploys a CUDA generator (deploy/k8s/components/gpu): a
        # call running, a full one ready, and the interactive reserve, all in flight
        slots = str(2 * case.max_batch + 16)
        gen |= {"MAX_BATCH": str(case.max_batch), "MAX_BATCH_IMAGES": str(case.max_batch)}
        gen |= {"PREFETCH": slots}
        gateway |= {"SCHEDULER_SLOTS_PER_CONSUMER": slots, "SCHEDULER_INTERACTIVE_RESERVE": "16"}
    system = System(
        base_dir=base / vhost,
        database_urls=urls,
        amqp_url=f"{node.amqp_url}{vhost}",
        storage_env={"STORAGE_BACKEND": "local", "STORAGE_LOCAL_DIR": str(base / vhost / "media")},
        model_cache_dir=models,
        image_models=["tiny-image", "instant"],
        gateway_models={"instant": INSTANT},
        gateway_overrides=gateway,
        generator_overrides=gen,
        projectors=case.projectors,
        notifiers=case.notifiers,
    )
    backends = PgBackends(
        f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/postgres", list(names.values())
    )
    try:
        await system.start(within_s=180)
        users = [f"bench-user-{i}" for i in range(case.users)]
        async with streams(system, users) as readers:
            groups = cpu_groups(system, node)
            settle_s, wait_s = (SETTLE_S_SMOKE, IDLE_S_SMOKE) if case.smoke else (SETTLE_S, IDLE_S)
            await asyncio.sleep(settle_s)  # the start's own work (declarations, warm-up) settles
            idle, idle_s, _ = await measure(groups, backends, lambda: asyncio.sleep(wait_s))
            jobs: dict[str, str] = {}

            async def burst() -> float:
                t0 = time.monotonic()
                jobs.update(await submit(system, case, users, case.jobs))
                # fails only when nothing finished for 120 s (a slow model on a busy machine
                # is slow, not stuck)
                finished, stalled_at, done = 0, time.monotonic() + 120, Finished(readers)
                while (now_done := done(jobs)) < len(jobs):
                    if now_done > finished:
                        finished, stalled_at = now_done, time.monotonic() + 120
                    assert time.monotonic() < stalled_at, f"{now_done}/{len(jobs)} done"
                    await asyncio.sleep(0.05)
                return time.monotonic() - t0

            groups = cpu_groups(system, node)
            used, window_s, burst_s = await measure(groups, backends, burst)
            problems = check_streams(readers, jobs)
            lone = await lone_jobs(system, case, readers[users[0]], users[0])
        events = sum(len(r.events) for r in readers.values())
        by_type = Counter(f.event for r in readers.values() for f in r.events)
        previews = sum(f.event == "preview" for r in readers.values() for f in r.frames)
    finally:
        await system.stop()
        await backends.close()
        for n in names.values():
            await drop_database(n)
        node.ctl("delete_vhost", vhost)
    cpu = {k: max(0.0, v - idle.get(k, 0.0) / idle_s * window_s) for k, v in used.items()}
    return {
        "case": case,
        "cpu": cpu,
        "raw": used,
        "window_s": window_s,
        "idle": idle,
        "idle_s": idle_s,
        "jobs_s": len(jobs) / burst_s,
        "jobs": len(jobs),
        "problems": problems,
        "lone": lone,
        "events": events,
        "by_type": by_type,
        "previews": previews,
    }


async def lone_jobs(system: System, case: Case, reader: SseReader, user: str) -> list[float]:
    """created -> completed (ms) of jobs sent one at a time, as the user's stream saw it."""
    out = []
    async with system.client(user) as client:
        lone = LONE_JOBS_SMOKE if case.smoke else LONE_JOBS if case.model == "instant" else 5
        for _ in range(lone):
            body = {"prompt": "alone", "model": case.model, "num_inference_steps": case.steps}
            t0 = time.time()
            r = await client.post("/api/images/generate", json=body | {"width": 64, "height": 64})
            job = r.json()["job_id"]
            frame = await reader.wait_for(
                lambda rd, job=job: next((f for f in rd.for_job(job) if f.event in TERMINAL), None),
                30,
            )
            out.append((frame.received_at - t0) * 1000)
    return out


def report(result: dict) -> str:
    case, jobs = result["case"], result["jobs"]
    lines = [f"== {case.label}"]
    rows = sorted(result["cpu"].items(), key=lambda kv: -kv[1])
    outside = outside_raw = 0.0
    window = f"[window {result['window_s']:.1f} s]"
    lines.append(f"  {'process':<28} {'ms/job':>8} {'(raw)':>8}  idle ms/s  {window}")
    for name, seconds in rows:
        if name == CLIENT:
            continue
        ms, raw = seconds * 1000 / jobs, result["raw"][name] * 1000 / jobs
        idle = result["idle"][name] * 1000 / result["idle_s"]
        if not name.startswith(GENERATOR):
            outside, outside_raw = outside + ms, outside_raw + raw
        lines.append(f"  {name:<28} {ms:8.2f} {raw:8.2f}  {idle:9.1f}")
    lines.append(f"  {'everything but the generator':<28} {outside:8.2f} {outside_raw:8.2f}")
    if CLIENT in result["cpu"]:
        client = result["cpu"][CLIENT] * 1000 / jobs
        lines.append(f"  {CLIENT:<28} {client:8.2f} {result['raw'][CLIENT] * 1000 / jobs:8.2f}")
    lone = result["lone"]
    lines.append(
        f"  jobs/s end to end: {result['jobs_s']:.1f}   stream events/job: "
        f"{result['events'] / jobs:.2f}   lone job created->completed p50 "
        f"{statistics.median(lone):.0f} ms (min {min(lone):.0f})"
    )
    per_job = ", ".join(
        f"{name.removeprefix('generation.')} {n / jobs:.2f}"
        for name, n in sorted(result["by_type"].items(), key=lambda kv: -kv[1])
    )
    lines.append(
        f"  stream events/job by type: {per_job}; live previews/job (no id): "
        f"{result['previews'] / jobs:.2f}"
    )
    problems = result["problems"]
    lines.append(f"  streams: {'complete, no duplicate' if not problems else problems[:5]}")
    return "\n".join(lines)


def cases(args: argparse.Namespace) -> list[Case]:
    reps = {"projectors": args.projectors, "notifiers": args.notifiers}
    if args.smoke:
        return [Case("instant", 4, 24, 4, smoke=True, **reps)]
    if args.gpu_rate:
        return [Case("instant", 4, 2000, 100, max_batch=64, **reps)]
    every = [
        Case("instant", 4, args.jobs, args.users, **reps),
        Case("instant", 20, args.jobs, args.users, **reps),
        Case("tiny-image", 4, args.tiny_jobs, args.users, **reps),
        Case("tiny-image", 20, args.tiny_jobs, args.users, **reps),
    ]
    return [c for c in every if args.model in (None, c.model) and args.steps in (None, c.steps)]


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="one small instant case (a test)")
    p.add_argument("--gpu-rate", action="store_true", help="2000 jobs, 100 users, max_batch 64")
    p.add_argument("--jobs", type=int, default=400, help="jobs per instant case")
    p.add_argument(
        "--tiny-jobs",
        type=int,
        default=160,
        help="jobs per tiny-image case (40 was too short to compare: a window of 7 s)",
    )
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--model", choices=["instant", "tiny-image"], help="only this model's cases")
    p.add_argument("--steps", type=int, choices=[4, 20], help="only the cases of this many steps")
    p.add_argument("--projectors", type=int, default=1)
    p.add_argument("--notifiers", type=int, default=1)
    p.add_argument("--models", type=Path, default=ROOT / ".data" / "models")
    p.add_argument("--keep", action="store_true", help="keep the logs (printed path)")
    return p.parse_args(argv)


async def main(argv: list[str] | None = None) -> list[dict]:
    args = parse(argv)
    base = Path(tempfile.mkdtemp(prefix="sorami-bench-system-"))
    if args.keep:
        print(f"logs under {base}", flush=True)
    node = PrivateRabbitNode(base / "rabbit")
    results = []
    try:
        node.start()
        for case in cases(args):
            result = await run_case(case, node, base, args.models)
            print(report(result), flush=True)
            results.append(result)
    finally:
        node.stop()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return results


if __name__ == "__main__":
    outcome = asyncio.run(main())
    sys.exit(1 if any(r["problems"] for r in outcome) else 0)
