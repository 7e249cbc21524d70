"""A whole Sorami system as real processes, for end-to-end tests.

Every service runs as its own process (``sorami-gateway api|relay|projector``,
``sorami-generator run``, ``sorami-notifier run``) with fresh databases, a fresh RabbitMQ vhost,
its own media directory or S3 bucket, and the JSON logs of each process in a file. Stopping
sends SIGTERM and records each exit status (every process must exit 0).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt

from tests.support.infra import free_port

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def is_mp4(body: bytes) -> bool:
    return len(body) > 12 and body[4:8] == b"ftyp"


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    exit_code: int | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class System:
    base_dir: Path
    database_urls: dict[str, str]
    amqp_url: str
    storage_env: dict[str, str]  # STORAGE_* / S3_* without prefix
    model_cache_dir: Path
    image_models: list[str] = field(default_factory=lambda: ["tiny-image"])
    video_models: list[str] = field(default_factory=lambda: ["tiny-video"])
    # registry entries only the gateway knows (e.g. a model no generator can load)
    gateway_models: dict[str, dict[str, Any]] = field(default_factory=dict)
    # registry entries both the gateway and the generators know (e.g. tiny family builds)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    generator_overrides: dict[str, str] = field(default_factory=dict)  # without the prefix
    start_within_s: float = 90.0  # until every process is ready (preloads included)
    generators: int = 1
    watchdog: bool = False  # also run ``sorami-gateway watchdog``
    environment: str = "test"  # the gateway's; "development" enables POST /api/dev/token
    port: int = field(default_factory=free_port)
    jwt_secret: str = field(default_factory=lambda: uuid.uuid4().hex)
    procs: list[Proc] = field(default_factory=list)
    metrics_ports: dict[str, int] = field(default_factory=dict)  # process name -> /metrics port
    gateway_overrides: dict[str, str] = field(default_factory=dict)  # without the prefix
    generator_overrides: dict[str, str] = field(default_factory=dict)  # without the prefix
    notifier_overrides: dict[str, str] = field(default_factory=dict)  # without the prefix
    projectors: int = 1  # replicas of ``sorami-gateway projector`` on the one queue
    notifiers: int = 1  # replicas of ``sorami-notifier run``
    # the models each generator replica serves (``SERVE_MODELS``) and preloads, by replica;
    # empty: every replica serves every model of its registry
    generator_serves: list[list[str]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_dir(self) -> Path:
        return self.base_dir / "logs"

    def _env(self, prefix: str, values: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SORAMI_")}
        if "SORAMI_EVENT_LOOP" in os.environ:  # every process's (sorami_shared.process.run)
            env["SORAMI_EVENT_LOOP"] = os.environ["SORAMI_EVENT_LOOP"]
        env["PYTHONUNBUFFERED"] = "1"
        env.update({f"{prefix}{k}": v for k, v in values.items()})
        return env

    def gateway_env(self) -> dict[str, str]:
        return self._env(
            "SORAMI_GATEWAY_",
            {
                "ENVIRONMENT": self.environment,
                "LOG_FORMAT": "json",
                "AMQP_URL": self.amqp_url,
                "DATABASE_URL": self.database_urls["gateway"],
                "JWT_SECRET": self.jwt_secret,
                "MEDIA_SIGNING_SECRET": uuid.uuid4().hex,
                "PUBLIC_BASE_URL": self.base_url,
                "IMAGE_MODELS": json.dumps(self.image_models),
                "VIDEO_MODELS": json.dumps(self.video_models),
                "MODELS": json.dumps({**self.models, **self.gateway_models}),
                "METRICS_SAMPLE_INTERVAL_S": "1",
                **self.storage_env,
                **self.gateway_overrides,
            },
        )

    def generator_env(self, index: int = 0) -> dict[str, str]:
        """The env of generator replica ``index``."""
        preload = list(dict.fromkeys(["tiny-image", "tiny-video", *self.models]))
        serves: dict[str, str] = {}
        if self.generator_serves:
            served = self.generator_serves[index]
            preload = [m for m in preload if m in served]
            serves["SERVE_MODELS"] = json.dumps(served)
        return self._env(
            "SORAMI_GENERATOR_",
            {
                "ENVIRONMENT": "test",
                "LOG_FORMAT": "json",
                "AMQP_URL": self.amqp_url,
                "MODEL_CACHE_DIR": str(self.model_cache_dir),
                "PRELOAD_MODELS": json.dumps(preload),
                **serves,
                "MODELS": json.dumps(self.models),
                "SHUTDOWN_GRACE_S": "10",
                # beside every other process on a few cores: one intra-op thread each, not
                # torch's one per core, which spin-wait when they outnumber free cores
                "TORCH_THREADS": "1",
                **self.storage_env,
                **self.generator_overrides,
            },
        )

    def notifier_env(self) -> dict[str, str]:
        return self._env(
            "SORAMI_NOTIFIER_",
            {
                "ENVIRONMENT": "test",
                "LOG_FORMAT": "json",
                "AMQP_URL": self.amqp_url,
                "DATABASE_URL": self.database_urls["notifier"],
                **self.notifier_overrides,
            },
        )

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self, within_s: float = 90.0) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        services = {"sorami-gateway": self.gateway_env(), "sorami-notifier": self.notifier_env()}
        # Two databases, two independent migrations: run at the same time.
        results = await asyncio.gather(
            *(
                asyncio.to_thread(
                    subprocess.run,
                    [str(BIN / service), "migrate"],
                    env=env,
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                for service, env in services.items()
            )
        )
        for service, result in zip(services, results, strict=True):
            assert result.returncode == 0, f"{service} migrate:\n{result.stdout}{result.stderr}"
        gw = self.gateway_env()
        specs: list[tuple[str, list[str], dict[str, str]]] = [
            (
                "gateway-api",
                ["sorami-gateway", "api", "--host", "127.0.0.1", "--port", str(self.port)],
                gw,
            ),
            ("gateway-relay", ["sorami-gateway", "relay"], gw),
            ("gateway-webhooks", ["sorami-gateway", "webhooks"], gw),
        ]
        specs += [
            (_replica("gateway-projector", i, self.projectors), ["sorami-gateway", "projector"], gw)
            for i in range(self.projectors)
        ]
        specs += [
            (
                _replica("notifier", i, self.notifiers),
                ["sorami-notifier", "run"],
                self.notifier_env(),
            )
            for i in range(self.notifiers)
        ]
        if self.watchdog:
            specs.append(("gateway-watchdog", ["sorami-gateway", "watchdog"], gw))
        assert len(self.generator_serves) in (0, self.generators), self.generator_serves
        specs += [
            (f"generator-{i}", ["sorami-generator", "run"], self.generator_env(i))
            for i in range(self.generators)
        ]
        for name, argv, env in specs:
            self.metrics_ports[name] = free_port()
            argv = [*argv, "--metrics-port", str(self.metrics_ports[name])]
            proc = Proc(name, [str(BIN / argv[0]), *argv[1:]], env, self.log_dir / f"{name}.log")
            proc.start()
            self.procs.append(proc)
        await self.wait_ready(within_s)

    async def wait_ready(self, within_s: float) -> None:
        """The API answers /readyz 200, and every generator and the notifier consume."""
        deadline = time.monotonic() + within_s
        async with httpx.AsyncClient(timeout=3) as client:
            while True:
                dead = [p for p in self.procs if not p.alive()]
                assert not dead, self.report(f"{[p.name for p in dead]} exited during start")
                try:
                    ready = (await client.get(f"{self.base_url}/readyz")).status_code == 200
                except httpx.HTTPError:
                    ready = False
                consuming = all(
                    "consuming" in p.log_path.read_text(errors="replace")
                    for p in self.procs
                    if p.name.startswith(("generator", "notifier"))
                )
                if ready and consuming:
                    return
                assert time.monotonic() < deadline, self.report("system not ready in time")
                await asyncio.sleep(0.2)

    async def stop(self, within_s: float = 30.0) -> dict[str, int | None]:
        for p in self.procs:
            if p.alive():
                p.popen.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        deadline = time.monotonic() + within_s
        for p in self.procs:
            if p.popen is None:
                continue
            remaining = max(0.1, deadline - time.monotonic())
            try:
                p.exit_code = await asyncio.to_thread(p.popen.wait, remaining)
            except subprocess.TimeoutExpired:
                os.killpg(p.popen.pid, signal.SIGKILL)
                p.popen.wait()
                p.exit_code = None  # did not stop on SIGTERM
        return {p.name: p.exit_code for p in self.procs}

    def report(self, headline: str) -> str:
        parts = [headline]
        for p in self.procs:
            parts.append(f"----- {p.name} (alive={p.alive()}) {p.log_path}\n{p.tail(25)}")
        return "\n".join(parts)

    # ---- clients -------------------------------------------------------------------------

    def token(self, user: str, ttl_s: int = 3600) -> str:
        now = datetime.now(UTC)
        return jwt.encode(
            {"sub": user, "iat": now, "exp": now + timedelta(seconds=ttl_s)},
            self.jwt_secret,
            algorithm="HS256",
        )

    def client(self, user: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.token(user)}"},
            timeout=30,
        )

    def generator_timings(self) -> dict[str, dict[str, Any]]:
        """``job completed`` log lines of every generator, by job id."""
        out: dict[str, dict[str, Any]] = {}
        for p in self.procs:
            if not p.name.startswith("generator"):
                continue
            for line in p.log_path.read_text(errors="replace").splitlines():
                if '"job completed"' not in line:
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                out[record["job_id"]] = record
        return out


def _replica(name: str, index: int, count: int) -> str:
    """``name`` alone, or ``name-<index>`` when there are several replicas."""
    return name if count == 1 else f"{name}-{index}"


async def wait_terminal(
    client: httpx.AsyncClient, kind: str, job_id: str, *, within_s: float, interval: float
) -> tuple[dict[str, Any], float]:
    """Poll until COMPLETED/FAILED; returns the status and when it was first seen."""
    deadline = time.monotonic() + within_s
    while True:
        r = await client.get(f"/api/{kind}s/{job_id}/status")
        assert r.status_code == 200, r.text
        status = r.json()
        if status["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
            return status, time.monotonic()
        assert time.monotonic() < deadline, f"{kind} {job_id} still {status} after {within_s}s"
        await asyncio.sleep(interval)


async def collect_pages(client: httpx.AsyncClient, path: str, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        r = await client.get(path, params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items
    raise AssertionError("pagination did not end")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
