"""A real Prometheus server (Debian's ``prometheus`` binary, like promtool) on loopback, for
tests: it scrapes the given targets and loads rule files with their ``for:`` shortened by
scripts/alert_rules_for.py (nothing else of a rule changes)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.infra import free_port
from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Prometheus:
    base_dir: Path
    targets: dict[str, int]  # job name -> port on 127.0.0.1
    rule_files: list[Path]
    alert_for: str = "2s"
    interval: str = "1s"  # scrape and evaluation interval
    port: int = field(default_factory=free_port)
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "prometheus.log"

    def config(self) -> dict[str, Any]:
        rules = []
        for i, src in enumerate(self.rule_files):
            out = self.base_dir / f"rules-{i}-{src.name}"
            subprocess.run(
                [
                    sys.executable,
                    str(ROOT / "scripts" / "alert_rules_for.py"),
                    str(src),
                    "--for",
                    self.alert_for,
                    "-o",
                    str(out),
                ],
                check=True,
                timeout=60,
            )
            rules.append(str(out))
        return {
            "global": {
                "scrape_interval": self.interval,
                "scrape_timeout": self.interval,
                "evaluation_interval": self.interval,
            },
            "rule_files": rules,
            "scrape_configs": [
                {
                    "job_name": name,
                    "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
                }
                for name, port in self.targets.items()
            ],
        }

    def launch(self) -> None:
        binary = require_tool("prometheus")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        config = self.base_dir / "prometheus.yml"
        config.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        check = subprocess.run(
            [require_tool("promtool"), "check", "config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        with self.log_path.open("ab") as out:
            self.popen = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.base_dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=1h",
                    "--log.level=warn",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def start(self, within_s: float = 60) -> None:
        await asyncio.to_thread(self.launch)
        assert self.popen is not None
        deadline = time.monotonic() + within_s
        async with httpx.AsyncClient(timeout=3) as client:
            while True:
                assert self.popen.poll() is None, self.log_path.read_text()
                try:
                    if (await client.get(f"{self.url}/-/ready")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "prometheus not ready in time"
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    async def api(self, path: str, **params: Any) -> Any:
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.get(f"{self.url}/api/v1/{path}", params=params)
        body = r.json()
        assert r.status_code == 200 and body["status"] == "success", (path, params, r.text)
        return body["data"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        return (await self.api("query", query=expr))["result"]

    async def alerts(self) -> list[dict[str, Any]]:
        """The active (pending or firing) alerts, as on-call sees them."""
        return (await self.api("alerts"))["alerts"]

    async def firing(self, alertname: str) -> list[dict[str, Any]]:
        return [
            a
            for a in await self.alerts()
            if a["labels"]["alertname"] == alertname and a["state"] == "firing"
        ]

    async def wait_firing(self, alertname: str, *, within_s: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + within_s
        while not (found := await self.firing(alertname)):
            assert time.monotonic() < deadline, (
                f"{alertname} did not fire within {within_s}s; active: {await self.alerts()}"
            )
            await asyncio.sleep(0.25)
        return found

    async def wait_cleared(self, alertname: str, *, within_s: float) -> None:
        deadline = time.monotonic() + within_s
        while [a for a in await self.alerts() if a["labels"]["alertname"] == alertname]:
            assert time.monotonic() < deadline, f"{alertname} still active after {within_s}s"
            await asyncio.sleep(0.25)

    async def wait_targets_up(self, *, within_s: float) -> None:
        deadline = time.monotonic() + within_s
        while True:
            targets = (await self.api("targets"))["activeTargets"]
            down = [t["labels"]["job"] for t in targets if t["health"] != "up"]
            if len(targets) == len(self.targets) and not down:
                return
            assert time.monotonic() < deadline, f"targets not up: {down}"
            await asyncio.sleep(0.25)
