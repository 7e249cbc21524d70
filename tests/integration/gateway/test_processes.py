"""The real processes: ``sorami-gateway migrate`` from any cwd; ``api``, ``relay`` and
``projector`` serve, publish and project, and exit 0 on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest
import sqlalchemy as sa
from sorami_shared.messaging import EventBus
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.infra import free_port

from . import projection_events as ev
from .conftest import SMALL_IMAGE, TEST_JWT_SECRET, TEST_MEDIA_SECRET, auth, eventually, observe

EXE = str(Path(sys.executable).with_name("sorami-gateway"))


def _env(database_url: str, amqp_url: str, media_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SORAMI_")}
    env.update(
        SORAMI_GATEWAY_ENVIRONMENT="test",
        SORAMI_GATEWAY_DATABASE_URL=database_url,
        SORAMI_GATEWAY_AMQP_URL=amqp_url,
        SORAMI_GATEWAY_JWT_SECRET=TEST_JWT_SECRET,
        SORAMI_GATEWAY_MEDIA_SIGNING_SECRET=TEST_MEDIA_SECRET,
        SORAMI_GATEWAY_STORAGE_LOCAL_DIR=str(media_dir),
        SORAMI_GATEWAY_LOG_FORMAT="json",
    )
    return env


async def _stop(process: asyncio.subprocess.Process) -> int:
    process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(process.wait(), 15)


async def test_migrate_from_another_directory(make_database, tmp_path, media_dir):
    url = await make_database("gateway_migrate")
    result = await asyncio.to_thread(
        subprocess.run,
        [EXE, "migrate"],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        env=_env(url, "amqp://guest:guest@127.0.0.1:1/", media_dir),
    )
    assert result.returncode == 0, result.stderr.decode() + result.stdout.decode()
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            tables = set(
                (
                    await conn.execute(
                        sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                    )
                ).scalars()
            )
    finally:
        await engine.dispose()
    assert tables >= {
        "generations",
        "generation_files",
        "outbox",
        "processed_events",
        "notifications",
        "alembic_version",
    }


@pytest.fixture
def log_files(tmp_path: Path) -> Iterator[dict[str, BinaryIO]]:
    files = {name: open(tmp_path / f"{name}.log", "wb") for name in ("api", "relay", "projector")}
    yield files
    for f in files.values():
        f.close()


async def test_api_relay_projector_processes(
    database_url, amqp_url, media_dir, tmp_path, log_files
):
    env = _env(database_url, amqp_url, media_dir)
    port = free_port()
    commands = {"api": ["api", "--port", str(port)], "relay": ["relay"], "projector": ["projector"]}
    processes = {
        name: await asyncio.create_subprocess_exec(
            EXE, *args, env=env, cwd=tmp_path, stdout=log_files[name], stderr=subprocess.STDOUT
        )
        for name, args in commands.items()
    }
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def ready() -> bool:
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(ready, timeout=30, interval=0.2)
            async with observe(amqp_url, "generation.requested") as seen:
                response = await client.post(
                    "/api/images/generate", json=SMALL_IMAGE, headers=auth("zoe")
                )
                assert response.status_code == 202
                job_id = response.json()["job_id"]
                await eventually(lambda: _has(seen), timeout=30)
            assert json.loads(seen.messages[0].body)["data"]["job_id"] == job_id

            bus = EventBus(amqp_url, source="sorami/generator-test")
            await bus.connect()
            try:
                await bus.publish(ev.completed(uuid.UUID(job_id), user="zoe"))
            finally:
                await bus.close()

            async def completed() -> bool:
                r = await client.get(f"/api/images/{job_id}/status", headers=auth("zoe"))
                return r.json()["status"] == "COMPLETED"

            await eventually(completed, timeout=30, interval=0.1)
    finally:
        codes = {name: await _stop(p) for name, p in processes.items()}
        for f in log_files.values():
            f.flush()
    assert codes == {"api": 0, "relay": 0, "projector": 0}, {
        name: (tmp_path / f"{name}.log").read_text()[-3000:] for name in log_files
    }
    api_log = (tmp_path / "api.log").read_text()
    request_lines = [
        json.loads(line)
        for line in api_log.splitlines()
        if line.startswith("{") and '"event": "request"' in line
    ]
    assert any(
        r["path"] == "/api/images/generate" and r["status"] == 202 and r["correlation_id"]
        for r in request_lines
    )
    assert TEST_JWT_SECRET not in api_log and "Bearer" not in api_log


async def _has(seen) -> bool:
    return bool(seen.messages)
