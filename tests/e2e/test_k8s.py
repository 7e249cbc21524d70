"""deploy/k8s renders and is valid, without a cluster: ``kubectl kustomize`` renders each overlay,
every object is validated against the Kubernetes OpenAPI schemas (kubernetes-validate, strict);
KEDA's CRDs, which those schemas do not know, are checked structurally. Then the same
consistency as the compose file (tests/e2e/test_deploy_config.py): every SORAMI_* name is a
setting of that service, every command a real subcommand; plus probes, resources, the GPU
limit, the generator's grace period and the ScaledObject's queue."""

from __future__ import annotations

import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml
from sorami_generator.settings import GeneratorSettings
from sorami_shared.topology import GENERATOR_REQUESTS

from tests.e2e.test_deploy_config import COMMANDS, ROOT, check_setting_names
from tests.support.supervised import supervised_commands
from tests.support.tools import require_tool

pytestmark = pytest.mark.e2e

K8S = ROOT / "deploy" / "k8s"
K8S_VERSION = "1.32.0"
DEPLOYMENTS = {"api", "relay", "projector", "watchdog", "webhooks", "notifier", "generator"}
CRD_GROUPS = ("keda.sh/",)


def render(overlay: str) -> list[dict[str, Any]]:
    kubectl = require_tool("kubectl")
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def check_keda(objects: list[dict[str, Any]]) -> None:
    """What a schema would say about the ScaledObject, and what it scales on."""
    deployments = by_kind(objects, "Deployment")
    auths = by_kind(objects, "TriggerAuthentication")
    (scaled,) = by_kind(objects, "ScaledObject").values()
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] in deployments
    assert spec["minReplicaCount"] in (0, 1) and spec["maxReplicaCount"] > 1
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "rabbitmq"
    assert trigger["metadata"]["queueName"] == GENERATOR_REQUESTS.name
    assert "generation.requested" in GENERATOR_REQUESTS.routing_keys
    assert trigger["metadata"]["mode"] == "QueueLength" and int(trigger["metadata"]["value"]) > 0
    auth = auths[trigger["authenticationRef"]["name"]]
    assert {r["parameter"] for r in auth["spec"]["secretTargetRef"]} == {"host"}


def check_container(
    where: str, container: dict[str, Any], configmaps: dict[str, dict[str, Any]]
) -> None:
    service = container["image"].rsplit("/", 1)[-1].split(":")[0].removeprefix("sorami-")
    assert service in COMMANDS, (where, container["image"])
    assert "command" not in container, f"{where}: keep the image's entrypoint"
    assert container["args"][0] in COMMANDS[service], (where, container["args"])
    names = {e["name"] for e in container.get("env", [])}
    for source in container.get("envFrom", []):
        names |= set(configmaps[source["configMapRef"]["name"]]["data"])
    check_setting_names(names, where)
    assert all(n.startswith(f"SORAMI_{service.upper()}_") for n in names), where
    for e in container.get("env", []):
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        assert ref is None or (ref["name"] and ref["key"]), (where, e)
    assert container["resources"]["requests"]["cpu"], where


def workload_commands(deployments: dict[str, dict[str, Any]]) -> set[tuple[str, str]]:
    """(service, subcommand) of every container of these Deployments."""
    out = set()
    for deployment in deployments.values():
        if deployment["spec"].get("replicas", 1) < 1:
            continue
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            service = container["image"].rsplit("/", 1)[-1].split(":")[0].removeprefix("sorami-")
            out.add((service, container["args"][0]))
    return out


def check_every_process_has_a_workload(
    overlay: str, deployments: dict[str, dict[str, Any]]
) -> None:
    """Every process `make up` supervises (scripts/supervisor.py) runs on Kubernetes too."""
    running = workload_commands(deployments)
    missing = {
        name: command for name, command in supervised_commands().items() if command not in running
    }
    assert not missing, f"{overlay}: no Deployment runs {missing}"


@pytest.mark.parametrize("overlay", ["dev", "gpu"])
def test_overlay_renders_valid_and_consistent_objects(overlay: str) -> None:
    objects = render(overlay)
    validated = 0
    for obj in objects:
        if obj["apiVersion"].startswith(CRD_GROUPS):
            continue
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        validated += 1
    if overlay == "gpu":
        check_keda(objects)
    print(f"[k8s] {overlay}: {len(objects)} objects, {validated} schema-validated")

    configmaps = by_kind(objects, "ConfigMap")
    deployments = by_kind(objects, "Deployment")
    check_every_process_has_a_workload(overlay, deployments)
    assert set(deployments) == DEPLOYMENTS
    assert set(by_kind(objects, "Job")) == {"gateway-migrate", "notifier-migrate"}
    assert "api" in by_kind(objects, "Service")
    assert "generator" in by_kind(objects, "PodDisruptionBudget")
    for kind in ("Deployment", "Job"):
        for name, obj in by_kind(objects, kind).items():
            for container in obj["spec"]["template"]["spec"]["containers"]:
                check_container(f"{overlay} {kind}/{name}", container, configmaps)
    for name, deployment in deployments.items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name

    generator = deployments["generator"]["spec"]["template"]["spec"]
    grace_s = float(
        configmaps["sorami-generator"]["data"].get(
            "SORAMI_GENERATOR_SHUTDOWN_GRACE_S",
            GeneratorSettings.model_fields["shutdown_grace_s"].default,
        )
    )
    assert generator["terminationGracePeriodSeconds"] > grace_s
    limits = generator["containers"][0]["resources"].get("limits", {})
    if overlay == "gpu":
        assert int(limits["nvidia.com/gpu"]) >= 1
        assert configmaps["sorami-generator"]["data"]["SORAMI_GENERATOR_DEVICE"] == "cuda"
    else:
        assert "nvidia.com/gpu" not in limits


def test_base_references_external_infrastructure_only() -> None:
    """RabbitMQ, PostgreSQL and S3 are referenced (Secrets), never deployed by Sorami."""
    kinds = {o["kind"] for o in render("gpu")}
    assert not kinds & {"StatefulSet", "PersistentVolumeClaim", "Secret", "RabbitmqCluster"}
    text = "".join(p.read_text() for p in K8S.rglob("*.yaml"))
    assert "image: postgres" not in text and "image: rabbitmq" not in text
