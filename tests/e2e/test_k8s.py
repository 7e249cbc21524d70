"""deploy/k8s renders and is valid, without a cluster: ``kubectl kustomize`` renders each overlay,
every object is validated against the Kubernetes OpenAPI schemas (kubernetes-validate, strict);
KEDA's CRDs, which those schemas do not know, are checked structurally. Then the same
consistency as the compose file (tests/e2e/test_deploy_config.py): every SORAMI_* name is a
setting of that service, every command a real subcommand; plus probes, resources, the GPU
limit, the generators' grace period, and what each generator serves: its settings are built
from its pod's environment and mounted models file, as the pod would, and each ScaledObject's
query selects the backlog of exactly the models its Deployment serves."""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any
from unittest.mock import patch

import kubernetes_validate
import pytest
import yaml
from pydantic_settings import BaseSettings
from sorami_gateway.generations.model_catalog import catalog
from sorami_gateway.scheduling.metrics import QUEUED
from sorami_gateway.settings import GatewaySettings
from sorami_generator.batching import BatchLimits
from sorami_generator.settings import GeneratorSettings
from sorami_shared.model_registry import load_models_file

from tests.e2e.test_deploy_config import COMMANDS, ROOT, check_setting_names
from tests.support.supervised import supervised_commands
from tests.support.tools import require_tool

pytestmark = pytest.mark.e2e

K8S = ROOT / "deploy" / "k8s"
K8S_VERSION = "1.32.0"
OVERLAYS = ["dev", "gpu", "per-model"]
GPU_OVERLAYS = {"gpu", "per-model"}  # one GPU per generator pod, KEDA on the backlog
# besides the generator Deployments (one serving every model, or one per model)
CORE_DEPLOYMENTS = {"api", "relay", "projector", "watchdog", "webhooks", "notifier"}
CRD_GROUPS = ("keda.sh/",)
Objects = list[dict[str, Any]]


def render(overlay: str) -> Objects:
    kubectl = require_tool("kubectl")
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def by_kind(objects: Objects, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def service_of(container: dict[str, Any]) -> str:
    return container["image"].rsplit("/", 1)[-1].split(":")[0].removeprefix("sorami-")


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return selector["matchLabels"].items() <= labels.items()


def pod_settings(
    cls: type[BaseSettings],
    pod: dict[str, Any],
    objects: Objects,
    tmp_path: Path,
    overrides: dict[str, str] | None = None,
) -> Any:
    """The settings the pod's (only) container would start with: its ConfigMaps, then its own
    env (Secret references left unset), the models file read from the ConfigMap mounted there."""
    (container,) = pod["containers"]
    configmaps = by_kind(objects, "ConfigMap")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env |= configmaps[source["configMapRef"]["name"]]["data"]
    env |= {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    prefix = f"SORAMI_{service_of(container).upper()}_"
    if path := env.get(f"{prefix}MODELS_FILE"):
        mount = next(
            (m for m in container.get("volumeMounts", []) if path.startswith(m["mountPath"] + "/")),
            None,
        )
        assert mount, f"{container['name']}: {path} is on no volume"
        (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        data = configmaps[volume["configMap"]["name"]]["data"]
        key = path.removeprefix(mount["mountPath"] + "/")
        assert key in data, f"{container['name']}: {path} is not in its ConfigMap"
        copy = tmp_path / volume["configMap"]["name"] / key
        copy.parent.mkdir(exist_ok=True)
        copy.write_text(data[key])
        env[f"{prefix}MODELS_FILE"] = str(copy)
    kept = {k: v for k, v in os.environ.items() if not k.startswith(prefix)}
    with patch.dict(os.environ, kept | env | (overrides or {}), clear=True):
        return cls()


def check_generators(objects: Objects, tmp_path: Path) -> dict[str, GeneratorSettings]:
    """Each generator Deployment serves some models: all of its registry (the one Deployment
    `generator`), or exactly one model of the mounted models file (`generator-<model>`), each
    model by one Deployment only; it preloads only what it serves."""
    generators = {
        name: pod_settings(GeneratorSettings, d["spec"]["template"]["spec"], objects, tmp_path)
        for name, d in by_kind(objects, "Deployment").items()
        if service_of(d["spec"]["template"]["spec"]["containers"][0]) == "generator"
    }
    for name, settings in generators.items():
        assert settings.served, f"{name} serves no model"
        assert set(settings.preload_models) <= set(settings.served), f"{name} preloads more"
        if not settings.serve_models:  # every model: no other generator may be there
            assert list(generators) == ["generator"], f"{name} serves every model"
            continue
        assert len(settings.serve_models) == 1, f"{name} serves {settings.serve_models}"
        model = settings.serve_models[0]
        assert name == f"generator-{model}"
        assert settings.models_file and model in load_models_file(settings.models_file), name
    served = Counter(m for s in generators.values() for m in s.serve_models)
    assert all(n == 1 for n in served.values()), f"models served twice: {served}"
    return generators


def check_gateway_offers_what_is_served(
    objects: Objects, generators: dict[str, GeneratorSettings], tmp_path: Path
) -> None:
    """Every gateway pod starts with the models the generators run (the same entries): a model
    offered with no generator would keep its jobs queued, one served but not offered idles a
    GPU. Secrets are not rendered: ENVIRONMENT development stands in for them."""
    pods = [
        o["spec"]["template"]["spec"]
        for o in objects
        if o["kind"] in ("Deployment", "Job")
        and service_of(o["spec"]["template"]["spec"]["containers"][0]) == "gateway"
    ]
    served = {m for s in generators.values() for m in s.served}
    development = {"SORAMI_GATEWAY_ENVIRONMENT": "development"}
    for pod in pods:
        gateway = pod_settings(GatewaySettings, pod, objects, tmp_path, development)
        offered = {m["name"] for m in catalog(gateway)}
        if all(s.serve_models for s in generators.values()):
            assert offered == served, pod["containers"][0]["args"]
        assert offered <= served, pod["containers"][0]["args"]
        for name, settings in generators.items():
            for model in offered & set(settings.served):
                assert gateway.registry[model] == settings.registry[model], model
            # the scheduler fills what a generator takes (fewer slots starve its calls, more
            # leave released jobs in the broker's FIFO, out of the scheduler's order), and what
            # a batch may fill still covers a call running and a full one ready
            limits = BatchLimits.resolve(settings, cuda=settings.device == "cuda")
            prefetch = limits.prefetch(settings)
            assert gateway.scheduler_slots_per_consumer == prefetch, (name, prefetch)
            batch_room = prefetch - gateway.scheduler_interactive_reserve
            assert batch_room >= 2 * limits.max_batch, (name, batch_room)


def check_keda(objects: Objects, generators: dict[str, GeneratorSettings]) -> None:
    """What a schema would say about the ScaledObjects, and what they scale on: one per generator
    Deployment, on the scheduler's backlog (jobs wait in PostgreSQL; the broker queue holds only
    the slots in flight) of the model it serves, or of every model."""
    scaled = by_kind(objects, "ScaledObject").values()
    targets = sorted(s["spec"]["scaleTargetRef"]["name"] for s in scaled)
    assert targets == sorted(generators), "one ScaledObject per generator Deployment"
    metric = QUEUED.describe()[0].name
    selected: Counter[str] = Counter()
    for obj in scaled:
        spec = obj["spec"]
        assert spec["minReplicaCount"] in (0, 1) and spec["maxReplicaCount"] > 1
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "prometheus"
        assert trigger["metadata"]["serverAddress"].startswith("http")
        assert int(trigger["metadata"]["threshold"]) > 0
        query = trigger["metadata"]["query"]
        assert metric in query
        models = re.findall(rf'{metric}\{{model="([^"]+)"\}}', query)
        assert query.count("model=") == len(models), query
        assert models == generators[spec["scaleTargetRef"]["name"]].serve_models, query
        selected.update(models)
    served = [m for s in generators.values() for m in s.serve_models]
    assert selected == Counter(served), "every model served has one ScaledObject"


def check_container(
    where: str, container: dict[str, Any], configmaps: dict[str, dict[str, Any]]
) -> None:
    service = service_of(container)
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
            out.add((service_of(container), container["args"][0]))
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


def check_selectors(objects: Objects) -> None:
    """Each Deployment's selector picks its own pods only, and a generator's pods are under
    exactly one PodDisruptionBudget (the eviction API refuses a pod under two)."""
    deployments = by_kind(objects, "Deployment")
    budgets = by_kind(objects, "PodDisruptionBudget")
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        owners = [n for n, d in deployments.items() if selects(d["spec"]["selector"], labels)]
        assert owners == [name], f"{name}'s pods are selected by {owners}"
        covering = [n for n, b in budgets.items() if selects(b["spec"]["selector"], labels)]
        assert len(covering) <= 1, f"{name}'s pods are under {covering}"
        if labels["app.kubernetes.io/component"] == "generator":
            assert covering, f"{name} has no PodDisruptionBudget"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_valid_and_consistent_objects(overlay: str, tmp_path: Path) -> None:
    objects = render(overlay)
    validated = 0
    for obj in objects:
        if obj["apiVersion"].startswith(CRD_GROUPS):
            continue
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        validated += 1
    print(f"[k8s] {overlay}: {len(objects)} objects, {validated} schema-validated")

    configmaps = by_kind(objects, "ConfigMap")
    deployments = by_kind(objects, "Deployment")
    generators = check_generators(objects, tmp_path)
    check_gateway_offers_what_is_served(objects, generators, tmp_path)
    if overlay in GPU_OVERLAYS:
        check_keda(objects, generators)
    else:
        assert not by_kind(objects, "ScaledObject")
    check_every_process_has_a_workload(overlay, deployments)
    check_selectors(objects)
    assert set(deployments) == CORE_DEPLOYMENTS | set(generators)
    assert set(by_kind(objects, "Job")) == {"gateway-migrate", "notifier-migrate"}
    assert "api" in by_kind(objects, "Service")
    images = set()
    for kind in ("Deployment", "Job"):
        for name, obj in by_kind(objects, kind).items():
            for container in obj["spec"]["template"]["spec"]["containers"]:
                check_container(f"{overlay} {kind}/{name}", container, configmaps)
                images.add(container["image"].replace(service_of(container), "*"))
    assert len(images) == 1, f"{overlay}: one registry and tag for every image, not {images}"
    for name, deployment in deployments.items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name

    for name, settings in generators.items():
        pod = deployments[name]["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] > settings.shutdown_grace_s, name
        limits = pod["containers"][0]["resources"].get("limits", {})
        if overlay in GPU_OVERLAYS:
            assert int(limits["nvidia.com/gpu"]) >= 1, name
            assert settings.device == "cuda", name
        else:
            assert "nvidia.com/gpu" not in limits, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_references_external_infrastructure_only(overlay: str) -> None:
    """RabbitMQ, PostgreSQL and S3 are referenced (Secrets), never deployed by Sorami."""
    kinds = {o["kind"] for o in render(overlay)}
    assert not kinds & {"StatefulSet", "PersistentVolumeClaim", "Secret", "RabbitmqCluster"}


def test_no_manifest_deploys_infrastructure_images() -> None:
    text = "".join(p.read_text() for p in K8S.rglob("*.yaml"))
    assert "image: postgres" not in text and "image: rabbitmq" not in text
