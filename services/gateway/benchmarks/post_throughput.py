"""The gateway's hot path under load, measured against a real ``sorami-gateway api``: creates
(``POST /api/images/generate``) at 1 and 2 workers, the same create effect through bare
asyncpg as the ceiling, the create at a fixed offered rate, status polls, and the memory of
one worker holding idle event streams while it still answers POSTs. One run, one scratch
database (created, migrated, dropped). Needs PostgreSQL on 127.0.0.1:5432; no broker.

The load client (loadgen.py) is raw asyncio sockets with keep-alive and pre-encoded requests;
its own CPU time is printed with every figure. The per-user limits are off (the figures are
the create path's, not the limits'); the server logs at --log-level (INFO: a line per request).

    make bench-gateway            # the full run (about 2 minutes)
    .venv/bin/python services/gateway/benchmarks/post_throughput.py --smoke
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import jwt
from loadgen import Phase, closed_loop, encode, open_loop, open_streams

SECRET = "benchmark-secret-" + "x" * 48
EXE = str(Path(sys.executable).with_name("sorami-gateway"))
BODY = {"prompt": "a lighthouse at dawn", "width": 64, "height": 64, "num_inference_steps": 2}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bearer(user: str) -> str:
    exp = datetime.now(UTC) + timedelta(hours=2)
    return "Bearer " + jwt.encode({"sub": user, "exp": exp}, SECRET)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Gateway:
    """A ``sorami-gateway api`` process with ``workers`` workers on a free port."""

    def __init__(self, env: dict[str, str], workers: int, pool: int) -> None:
        self.port = free_port()
        self.env = {**env, "SORAMI_GATEWAY_WORKERS": str(workers)}
        self.env["SORAMI_GATEWAY_DB_POOL_SIZE"] = str(pool)
        self.env["SORAMI_GATEWAY_DB_MAX_OVERFLOW"] = "0"
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Gateway:
        self.process = await asyncio.create_subprocess_exec(
            EXE, "api", "--port", str(self.port), env=self.env, stdout=subprocess.DEVNULL
        )
        health = encode("GET", "/healthz", {})
        for _ in range(400):
            try:
                await closed_loop(self.port, [health], 8, 4)
                return self
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError("the gateway did not start")

    async def __aexit__(self, *_: object) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.process.wait(), 30)


def creates(users: int) -> list[bytes]:
    body = json.dumps(BODY).encode()
    return [
        encode(
            "POST",
            "/api/images/generate",
            {"Authorization": bearer(f"bench-{u}"), "Content-Type": "application/json"},
            body,
        )
        for u in range(users)
    ]


async def ceiling(dsn: str, calls: int, concurrency: int, users: int) -> Phase:
    """The same statement the gateway runs (``sorami_admit_generation``, the same arguments,
    each with its own minted job), from bare asyncpg connections: what the database allows."""
    from sorami_gateway.generations.admission import Ask, statement_arguments
    from sorami_gateway.generations.create_sql import ARGUMENTS, STATEMENT
    from sorami_gateway.generations.requests import build_request_models
    from sorami_gateway.settings import GatewaySettings
    from sorami_shared.events import Kind

    settings = GatewaySettings(rate_limit_generations=0, max_unfinished_jobs=0)
    model = build_request_models(settings)[Kind.IMAGE]
    request = model.model_validate(BODY)
    prepared = []
    for i in range(calls):  # built before the clock starts: the database is measured
        ask = Ask(f"bench-{i % users}", Kind.IMAGE, request, "bench", "POST /api/images/generate")
        arguments, _ = statement_arguments(settings, ask, uuid.uuid4())
        prepared.append([arguments[name] for name in ARGUMENTS])
    phase, order = Phase(), iter(range(calls))
    conns = [await asyncpg.connect(dsn) for _ in range(concurrency)]

    async def run(conn: asyncpg.Connection) -> None:
        for i in order:
            started = time.perf_counter()
            row = await conn.fetchrow(STATEMENT, *prepared[i])
            phase.latencies_ms.append((time.perf_counter() - started) * 1000)
            phase.statuses[row[2]] += 1

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(run(c) for c in conns))
    phase.wall_s, phase.cpu_s = time.perf_counter() - wall, time.process_time() - cpu
    for conn in conns:
        await conn.close()
    return phase


async def bench(a: argparse.Namespace, dsn: str, env: dict[str, str]) -> bool:
    ok = True
    post = creates(a.users)
    say = print
    say(f"load: concurrency {a.concurrency}, {a.users} users, server log level {a.log_level}")

    def check(name: str, phase: Phase, expected: int = 202) -> Phase:
        nonlocal ok
        ok &= set(phase.statuses) == {expected}
        say(f"  {name:<34}{phase.line()}")
        return phase

    async with Gateway(env, 1, a.concurrency) as gw:
        await closed_loop(gw.port, post, a.warmup, a.concurrency)
        one = check("create, 1 worker", await closed_loop(gw.port, post, a.requests, a.concurrency))
        seq = check(
            "create, 1 worker, sequential", await closed_loop(gw.port, post, a.sequential, 1)
        )
        assert gw.process is not None
        before = rss_mib(gw.process.pid)
        streams = [
            encode("GET", "/api/events", {"Authorization": bearer(f"watcher-{i}")})
            for i in range(a.streams)
        ]
        t0 = time.perf_counter()
        held = await open_streams(gw.port, streams)
        opened_s = time.perf_counter() - t0
        await asyncio.sleep(1)
        after = rss_mib(gw.process.pid)
        say(
            f"  {a.streams} idle event streams on 1 worker: opened in {opened_s:.1f} s; RSS "
            f"{before:.0f} -> {after:.0f} MiB (+{(after - before) * 1024 / a.streams:.0f} KiB "
            "per stream)"
        )
        busy = check(
            f"create, 1 worker, {a.streams} streams open",
            await closed_loop(gw.port, post, a.requests // 2, a.concurrency),
        )
        for writer in held:
            writer.close()
    async with Gateway(env, 2, a.concurrency) as gw:
        await closed_loop(gw.port, post, a.warmup, a.concurrency)
        two = check(
            "create, 2 workers", await closed_loop(gw.port, post, a.requests, a.concurrency)
        )
        offered = check(
            f"create, 2 workers, {a.rate:.0f} req/s offered",
            await open_loop(gw.port, post, a.rate, a.open_s),
        )
        made = await closed_loop(gw.port, post[:1], 50, 1, keep_bodies=True)
        job_ids = [json.loads(b)["job_id"] for b in made.bodies]
        polls = [
            encode("GET", f"/api/images/{job}/status", {"Authorization": bearer("bench-0")})
            for job in job_ids
        ]
        status = check(
            "status poll, 2 workers",
            await closed_loop(gw.port, polls, a.requests, a.concurrency),
            200,
        )
    bare = await ceiling(dsn, a.requests, a.concurrency, a.users)
    ok &= set(bare.statuses) == {202}
    say(f"  {'same create, bare asyncpg (ceiling)':<34}{bare.line()}")
    say("summary (targets on the 2-core box in brackets):")
    say(f"  1 worker: {one.rate:.0f} req/s [>= 350]; sequential p50 {seq.pct(50):.2f} ms [<= 3]")
    say(
        f"  2 workers: {two.rate:.0f} req/s [>= 550]; p99 at {a.rate:.0f} req/s offered "
        f"{offered.pct(99):.1f} ms [< 50]"
    )
    say(
        f"  2 workers / bare asyncpg ceiling: {two.rate:.0f} / {bare.rate:.0f} = "
        f"{100 * two.rate / bare.rate:.0f}% [>= 25%]; "
        f"2 workers / 1 worker: {two.rate / one.rate:.2f}x"
    )
    say(
        f"  status poll: {status.rate:.0f} req/s; with {a.streams} streams open, 1 worker: "
        f"{busy.rate:.0f} req/s creates"
    )
    return ok


async def main_async(a: argparse.Namespace) -> int:
    started = time.perf_counter()
    name = f"bench_gateway_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(f"postgresql://{a.pg}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    env = {k: v for k, v in os.environ.items() if not k.startswith("SORAMI_")}
    env.update(
        SORAMI_GATEWAY_ENVIRONMENT="test",
        SORAMI_GATEWAY_DATABASE_URL=f"postgresql+asyncpg://{a.pg}/{name}",
        SORAMI_GATEWAY_JWT_SECRET=SECRET,
        SORAMI_GATEWAY_MEDIA_SIGNING_SECRET=SECRET,
        SORAMI_GATEWAY_LOG_LEVEL=a.log_level,
        SORAMI_GATEWAY_LOG_FORMAT="json",
        SORAMI_GATEWAY_RATE_LIMIT_GENERATIONS="0",
        SORAMI_GATEWAY_MAX_UNFINISHED_JOBS="0",
        SORAMI_GATEWAY_SERVE_WEB="false",
    )
    try:
        migrate = await asyncio.create_subprocess_exec(
            EXE, "migrate", env=env, stdout=subprocess.DEVNULL
        )
        if await migrate.wait() != 0:
            raise RuntimeError("sorami-gateway migrate failed")
        ok = await bench(a, f"postgresql://{a.pg}/{name}", env)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    print(f"run: {time.perf_counter() - started:.0f} s{'' if ok else '  (UNEXPECTED STATUSES)'}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny counts: the script runs")
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--sequential", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--open-s", type=float, default=10)
    parser.add_argument("--pg", default="postgres@127.0.0.1:5432", help="user@host:port")
    parser.add_argument("--log-level", default="INFO", help="the server's; INFO logs each request")
    a = parser.parse_args()
    if a.smoke:
        a.requests, a.sequential, a.warmup, a.streams, a.open_s, a.rate = 60, 20, 10, 20, 1, 50
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # streams: a socket each, both ends
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * a.streams + 1024)), hard))
    try:
        import uvloop

        return uvloop.run(main_async(a))
    except ImportError:
        return asyncio.run(main_async(a))


if __name__ == "__main__":
    sys.exit(main())
