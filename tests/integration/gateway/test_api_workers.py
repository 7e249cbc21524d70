"""``SORAMI_GATEWAY_WORKERS=2``: two API processes share the port, the metrics port sums
what both counted, and SIGTERM ends them (and an open event stream) with exit status 0."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.support.infra import free_port

from .conftest import SMALL_IMAGE, auth, make_token
from .test_processes import EXE, _env, _stop


async def test_two_workers_serve_count_and_stop_cleanly(database_url, media_dir):
    env = {**_env(database_url, "amqp://guest:guest@127.0.0.1:1/", media_dir)}
    env["SORAMI_GATEWAY_WORKERS"] = "2"
    port, metrics_port = free_port(), free_port()
    api = await asyncio.create_subprocess_exec(
        EXE, "api", "--port", str(port), "--metrics-port", str(metrics_port), env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            for _ in range(300):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            answers = await asyncio.gather(
                *(
                    http.post("/api/images/generate", json=SMALL_IMAGE, headers=auth())
                    for _ in range(8)
                )
            )
            assert {r.status_code for r in answers} == {202}
            workers = await asyncio.to_thread(_pids_of_children, api.pid)
            assert len(workers) == 2
            metrics = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
            assert 'sorami_jobs_created_total{kind="image",model="tiny-image"} 8.0' in metrics
            headers = {"Authorization": f"Bearer {make_token('alice')}"}
            async with http.stream("GET", "/api/events", headers=headers) as stream:
                assert stream.status_code == 200
                started = time.monotonic()
                assert await _stop(api) == 0
                assert time.monotonic() - started < 8  # the stream was ended, not waited out
    finally:
        if api.returncode is None:
            api.kill()
            await api.wait()


def _pids_of_children(pid: int) -> list[int]:
    """The spawned workers among the API process's children (not multiprocessing's
    resource tracker)."""
    from pathlib import Path

    children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
