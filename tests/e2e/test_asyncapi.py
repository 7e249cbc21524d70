"""docs/asyncapi.yaml is what the code's contracts produce (`make asyncapi`), and it holds
together: AsyncAPI 3, every reference resolves, every event type and queue has its channel; the
official parser (npm @asyncapi/parser) reports 0 errors and 0 warnings."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
import yaml
from sorami_shared import topology
from sorami_shared.events import EVENT_MODELS

from tests.e2e.test_deploy_config import ROOT

pytestmark = pytest.mark.e2e

DOC = ROOT / "docs" / "asyncapi.yaml"


def resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [node["$ref"]] if "$ref" in node else [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_committed_document_matches_the_code() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "asyncapi.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr + " (run `make asyncapi` and commit the file)"


def test_document_is_complete_and_consistent() -> None:
    doc = yaml.safe_load(DOC.read_text())
    assert doc["asyncapi"] == "3.0.0"
    for ref in refs(doc):
        assert resolve(doc, ref) is not None, ref
    addresses = {c["address"]: c for c in doc["channels"].values()}
    for event_type, version in EVENT_MODELS:
        channel = addresses[event_type]
        assert channel["bindings"]["amqp"]["exchange"]["name"] == topology.EXCHANGE
        messages = [resolve(doc, m["$ref"]) for m in channel["messages"].values()]
        versions = [m["payload"]["allOf"][1]["properties"]["dataversion"] for m in messages]
        versions = [v["const"] for v in versions]
        assert version in versions and len(versions) == len(set(versions))  # one per version
    for spec in topology.ALL_QUEUES:
        queue = addresses[spec.name]
        assert queue["bindings"]["amqp"]["is"] == "queue"
        assert {resolve(doc, m["$ref"])["name"] for m in queue["messages"].values()} == set(
            spec.routing_keys
        )
        assert spec.dead_letter_queue in addresses
    assert topology.GENERATOR_CANCELS.name in addresses
    for name, operation in doc["operations"].items():
        assert operation["action"] in ("send", "receive"), name
        resolve(doc, operation["channel"]["$ref"])
    print(f"[asyncapi] channels: {sorted(addresses)}")


def official_parser(path: Any) -> tuple[int, dict[str, Any]]:
    """(exit status, diagnostics) of the official AsyncAPI parser (npm @asyncapi/parser, installed
    and cached by scripts/ensure-asyncapi-parser.sh) on ``path``."""
    install = subprocess.run(
        ["bash", str(ROOT / "scripts" / "ensure-asyncapi-parser.sh")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    folder = install.stdout.strip().splitlines()[-1]
    result = subprocess.run(
        ["node", f"{folder}/parse.mjs", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip(), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_the_official_asyncapi_parser_finds_no_error_and_no_warning() -> None:
    code, report = official_parser(DOC)
    print(f"[asyncapi] @asyncapi/parser: {json.dumps(report)}")
    assert report["parsed"] and report["version"] == "3.0.0"
    assert (report["errors"], report["warnings"]) == (0, 0), report["diagnostics"]
    assert code == 0


def test_the_parser_harness_reports_errors(tmp_path: Any) -> None:
    """The same harness on a broken copy (no ``info``, an operation on a channel that does not
    exist): errors, exit 1."""
    doc = yaml.safe_load(DOC.read_text())
    operation = next(iter(doc["operations"].values()))
    operation["channel"] = {"$ref": "#/channels/no-such-channel"}
    del doc["info"]
    broken = tmp_path / "asyncapi.yaml"
    broken.write_text(yaml.safe_dump(doc, sort_keys=False))
    code, report = official_parser(broken)
    assert report["errors"] >= 1 and code == 1, report
