"""Every Sorami process is scraped where it serves its metrics, in each way Sorami ships:

- compose (deploy/docker-compose.yml) passes each process the port scripts/supervisor.py gives
  it under `make up` (``--metrics-port``), binds it on 0.0.0.0, and ships deploy/prometheus.yml,
  which scrapes exactly those processes on exactly those ports (``promtool check config``
  accepts it, with the alert rules it loads);
- in the rendered Kubernetes overlays every Deployment of a long-running process carries the
  ``prometheus.io/scrape`` and ``prometheus.io/port`` annotations, and that port is the
  container's ``metrics`` port and the METRICS_PORT its settings give the process.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from typing import Any

import pytest
import yaml

from tests.e2e.test_deploy_config import DEPLOY, ROOT
from tests.e2e.test_k8s import by_kind, render
from tests.support.tools import require_tool

pytestmark = pytest.mark.e2e

# supervisor process name -> compose service that runs it
COMPOSE_SERVICE = {
    "gateway-api": "api",
    "gateway-relay": "relay",
    "gateway-projector": "projector",
    "gateway-watchdog": "watchdog",
    "gateway-webhooks": "webhooks",
    "generator": "generator",
    "notifier": "notifier",
}
PREFIX = {
    "gateway": "SORAMI_GATEWAY_",
    "generator": "SORAMI_GENERATOR_",
    "notifier": "SORAMI_NOTIFIER_",
}


def supervisor_ports() -> dict[str, int]:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        spec = importlib.util.spec_from_file_location(
            "sorami_supervisor", ROOT / "scripts/supervisor.py"
        )
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return dict(module.METRICS_PORTS)


def metrics_port_arg(args: list[str]) -> int | None:
    return int(args[args.index("--metrics-port") + 1]) if "--metrics-port" in args else None


def test_compose_and_its_prometheus_config_use_the_codes_ports() -> None:
    ports = supervisor_ports()
    assert set(ports) == set(COMPOSE_SERVICE), "a process without a compose service here"
    services = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]
    for process, port in ports.items():
        svc = services[COMPOSE_SERVICE[process]]
        assert metrics_port_arg(svc["command"]) == port, (process, svc["command"])
        prefix = PREFIX[process.split("-")[0]]
        assert svc["environment"][f"{prefix}METRICS_HOST"] == "0.0.0.0", process

    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == set(ports)
    for process, port in ports.items():
        [sd] = jobs[process]["dns_sd_configs"]
        assert sd["names"] == [COMPOSE_SERVICE[process]] and sd["port"] == port, process
    prometheus = services["prometheus"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in prometheus["volumes"] if v.startswith("./")}
    assert mounts["/etc/prometheus/prometheus.yml"] == "./prometheus.yml"
    for rule_file in config["rule_files"]:  # mounted beside the config, as in deploy/
        assert mounts[f"/etc/prometheus/{rule_file}"] == f"./{rule_file}"
    result = subprocess.run(
        [require_tool("promtool"), "check", "config", str(DEPLOY / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 rules found" in result.stdout


@pytest.mark.parametrize("overlay", ["dev", "gpu"])
def test_every_k8s_process_is_annotated_for_scraping_on_its_metrics_port(overlay: str) -> None:
    objects = render(overlay)
    configmaps = by_kind(objects, "ConfigMap")
    checked = []
    for name, deployment in by_kind(objects, "Deployment").items():
        template = deployment["spec"]["template"]
        annotations: dict[str, Any] = template["metadata"].get("annotations", {})
        [container] = template["spec"]["containers"]
        settings: dict[str, str] = {}
        for source in container.get("envFrom", []):
            settings |= configmaps[source["configMapRef"]["name"]]["data"]
        settings |= {e["name"]: e.get("value") for e in container.get("env", [])}
        service = container["image"].rsplit("/", 1)[-1].split(":")[0].removeprefix("sorami-")
        prefix = PREFIX[service]
        port = metrics_port_arg(container["args"]) or int(settings[f"{prefix}METRICS_PORT"])
        assert settings[f"{prefix}METRICS_HOST"] == "0.0.0.0", name
        assert annotations.get("prometheus.io/scrape") == "true", name
        assert int(annotations["prometheus.io/port"]) == port, name
        named = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert named["metrics"] == port, name
        checked.append(name)
    print(f"[k8s] {overlay}: scrape annotations on {sorted(checked)}")
    assert {"api", "relay", "projector", "watchdog", "notifier", "generator"} <= set(checked)
