"""deploy/observability stays true to the code: ``promtool check rules`` accepts the alert rules,
``promtool test rules`` runs their unit tests (alerts.test.yml: series that fire each alert, series
at the edge of its threshold and ``for`` that must not, its labels and annotations), the rules
cover what on-call needs, and every ``sorami_*`` metric a rule or a dashboard panel uses exists
in the code's registries (a renamed metric would otherwise silence an alert)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sorami_gateway.generations.metrics as gateway_metrics
import sorami_gateway.outbox.metrics  # noqa: F401 - registers the relay's outbox gauges
import sorami_gateway.scheduling.metrics  # noqa: F401 - registers the scheduler's backlog gauge
import sorami_generator.metrics  # noqa: F401 - registers the generator's metrics
import sorami_notifier.metrics  # noqa: F401 - registers the notifier's metrics
import sorami_shared.metrics  # noqa: F401 - registers the messaging metrics
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from tests.support.tools import require_tool

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "deploy" / "observability"
METRIC = re.compile(r"\bsorami_[a-z0-9_]+\b")
SUFFIXES = ("", "_total", "_bucket", "_count", "_sum")


def known_series() -> set[str]:
    app = FastAPI()
    gateway_metrics.instrument_http(app)
    TestClient(app).get("/")  # the instrumentator registers its metrics with the first request
    names = set()
    for family in REGISTRY.collect():
        names |= {family.name + suffix for suffix in SUFFIXES}
    return {n for n in names if n.startswith("sorami_")}


def rule_expressions() -> dict[str, str]:
    rules = yaml.safe_load((OBSERVABILITY / "alerts.yml").read_text())
    return {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_promtool_accepts_the_rules() -> None:
    promtool = require_tool("promtool")
    result = subprocess.run(
        [promtool, "check", "rules", str(OBSERVABILITY / "alerts.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_alerts_on_call_needs_exist() -> None:
    exprs = rule_expressions()
    assert "sorami_outbox_oldest_age_seconds" in exprs["SoramiOutboxBacklogOld"]
    assert ".dlq" in exprs["SoramiDeadLetters"]
    assert 'outcome="failed"' in exprs["SoramiJobsFailing"]
    assert "generator\\\\.requests" in exprs["SoramiNoGeneratorConsuming"]
    assert "histogram_quantile(0.95" in exprs["SoramiJobLatencyP95High"]


def test_every_metric_used_exists_in_the_code() -> None:
    known = known_series()
    used = {
        m
        for expr in [*rule_expressions().values(), *dashboard_expressions()]
        for m in METRIC.findall(expr)
    }
    assert len(used) > 20
    missing = sorted(used - known)
    assert not missing, f"used by deploy/observability but defined nowhere: {missing}"


def test_promtool_rule_unit_tests_pass() -> None:
    """Every alert has a unit test, and all of them pass."""
    promtool = require_tool("promtool")
    tests = yaml.safe_load((OBSERVABILITY / "alerts.test.yml").read_text())
    tested = {t["alertname"] for case in tests["tests"] for t in case["alert_rule_test"]}
    assert tested == set(rule_expressions()), "an alert without a rule unit test"
    fired = {
        t["alertname"]
        for case in tests["tests"]
        for t in case["alert_rule_test"]
        if t["exp_alerts"]
    }
    assert fired == set(rule_expressions()), "an alert never shown firing"
    result = subprocess.run(
        [promtool, "test", "rules", "alerts.test.yml"],
        cwd=OBSERVABILITY,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_for_override_changes_only_for(tmp_path: Path) -> None:
    """scripts/alert_rules_for.py (used by the live alert test) keeps everything but ``for``."""
    out = tmp_path / "alerts.yml"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "alert_rules_for.py"),
            "--for",
            "2s",
            str(OBSERVABILITY / "alerts.yml"),
            "-o",
            str(out),
        ],
        check=True,
        timeout=60,
    )
    shipped = yaml.safe_load((OBSERVABILITY / "alerts.yml").read_text())
    shortened = yaml.safe_load(out.read_text())
    rules = [r for g in shortened["groups"] for r in g["rules"]]
    assert rules and all(r["for"] == "2s" for r in rules)
    for rule in (r for g in shipped["groups"] for r in g["rules"]):
        rule["for"] = "2s"
    assert shortened == shipped
