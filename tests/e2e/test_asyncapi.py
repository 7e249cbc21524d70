"""docs/asyncapi.yaml is what the code's contracts produce (`make asyncapi`), and it holds
together: AsyncAPI 3, every reference resolves, every event type and queue has its channel."""

from __future__ import annotations

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
        (message,) = (resolve(doc, m["$ref"]) for m in channel["messages"].values())
        assert message["payload"]["allOf"][1]["properties"]["dataversion"]["const"] == version
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
