"""POST /api/images/generate latency against a real ``sorami-gateway api`` process.

Creates a scratch database, migrates it, starts uvicorn (one worker) on a free port, sends
``--requests`` POSTs with ``--concurrency`` in flight (httpx.AsyncClient), prints p50/p95/p99
and throughput, then stops the server and drops the database. Needs PostgreSQL on
127.0.0.1:5432 (user postgres). No broker is needed: the API never calls it.

    .venv/bin/python services/gateway/benchmarks/post_latency.py --requests 500 --concurrency 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import jwt

SECRET = "benchmark-secret-" + "x" * 48
EXE = str(Path(sys.executable).with_name("sorami-gateway"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return ordered[index]


async def run(requests: int, concurrency: int, pg: str, log_level: str, users: int) -> int:
    name = f"bench_gateway_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(f"postgresql://{pg}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://{pg}/{name}"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SORAMI_")}
    env.update(
        SORAMI_GATEWAY_ENVIRONMENT="test",
        SORAMI_GATEWAY_DATABASE_URL=url,
        SORAMI_GATEWAY_JWT_SECRET=SECRET,
        SORAMI_GATEWAY_MEDIA_SIGNING_SECRET=SECRET,
        SORAMI_GATEWAY_LOG_LEVEL=log_level,
        SORAMI_GATEWAY_LOG_FORMAT="json",
        # one user sends every request: measure the create path, not the per-user limits
        SORAMI_GATEWAY_RATE_LIMIT_GENERATIONS="0",
        SORAMI_GATEWAY_MAX_UNFINISHED_JOBS="0",
    )
    server: asyncio.subprocess.Process | None = None
    try:
        migrate = await asyncio.create_subprocess_exec(
            EXE, "migrate", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _, err = await migrate.communicate()
        if migrate.returncode != 0:
            raise RuntimeError(f"migrate failed: {err.decode()}")
        server = await asyncio.create_subprocess_exec(
            EXE, "api", "--port", str(port), env=env, stdout=subprocess.DEVNULL
        )
        # Creates of ONE user are serialized on that user's quota row (the limits must hold
        # across replicas), so --users 1 is the worst case; real traffic spreads over users.
        expires = datetime.now(UTC) + timedelta(hours=1)
        user_headers = [
            {"Authorization": "Bearer " + jwt.encode({"sub": f"bench-{u}", "exp": expires}, SECRET)}
            for u in range(users)
        ]
        headers = user_headers[0]
        body = {
            "prompt": "a lighthouse at dawn",
            "width": 64,
            "height": 64,
            "num_inference_steps": 2,
        }
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30
        ) as client:
            for _ in range(200):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            for _ in range(20):  # warm-up (connections, pools, code paths)
                (
                    await client.post("/api/images/generate", json=body, headers=headers)
                ).raise_for_status()

            latencies: list[float] = []
            statuses: dict[int, int] = {}
            queue: asyncio.Queue[int] = asyncio.Queue()
            for i in range(requests):
                queue.put_nowait(i)

            async def worker() -> None:
                while True:
                    try:
                        i = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        return
                    started = time.perf_counter()
                    response = await client.post(
                        "/api/images/generate", json=body, headers=user_headers[i % users]
                    )
                    latencies.append((time.perf_counter() - started) * 1000)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

            wall = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            wall = time.perf_counter() - wall

        counter = await asyncpg.connect(f"postgresql://{pg}/{name}")
        outbox = await counter.fetchval("SELECT count(*) FROM outbox")
        await counter.close()
        print(
            f"POST /api/images/generate: {requests} requests, concurrency {concurrency}, "
            f"{users} user(s), 1 uvicorn worker, server log level {log_level}"
        )
        print(f"  statuses: {statuses}   outbox rows: {outbox}")
        print(
            f"  p50 {statistics.median(latencies):.1f} ms   p95 {percentile(latencies, 95):.1f} ms"
            f"   p99 {percentile(latencies, 99):.1f} ms   max {max(latencies):.1f} ms"
        )
        print(f"  throughput {requests / wall:.0f} req/s   wall {wall:.2f} s")
        return 0 if statuses == {202: requests} else 1
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            await asyncio.wait_for(server.wait(), 15)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--pg", default="postgres@127.0.0.1:5432", help="user@host:port")
    parser.add_argument("--log-level", default="INFO", help="the server's; INFO logs each request")
    parser.add_argument("--users", type=int, default=20, help="requests round-robin over users")
    args = parser.parse_args()
    return asyncio.run(run(args.requests, args.concurrency, args.pg, args.log_level, args.users))


if __name__ == "__main__":
    sys.exit(main())
