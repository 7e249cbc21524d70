"""deploy/ cannot run here (no Docker engine), so check that it stays consistent with the code:
the compose file parses, every SORAMI_* variable it or deploy/local.env sets is a real setting
of that service, and every command it runs is a real subcommand."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from sorami_gateway.generations.model_catalog import catalog
from sorami_gateway.settings import GatewaySettings
from sorami_generator.settings import GeneratorSettings
from sorami_notifier.settings import NotifierSettings
from sorami_shared.model_families import FAMILIES
from sorami_shared.model_registry import load_models_file

from tests.support.supervised import metrics_ports, supervised_commands

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SETTINGS = {
    "SORAMI_GATEWAY_": GatewaySettings,
    "SORAMI_GENERATOR_": GeneratorSettings,
    "SORAMI_NOTIFIER_": NotifierSettings,
}
COMMANDS = {
    "gateway": {"api", "relay", "projector", "watchdog", "webhooks", "migrate"},
    "generator": {"run", "build-tiny"},
    "notifier": {"run", "migrate"},
}


def check_setting_names(names: set[str], where: str) -> None:
    for name in names:
        prefix = next((p for p in SETTINGS if name.startswith(p)), None)
        assert prefix, f"{where}: {name} has no service prefix"
        field = name[len(prefix) :].lower()
        assert field in SETTINGS[prefix].model_fields, f"{where}: {name} is not a setting"


def test_local_env_names_are_settings() -> None:
    names = {
        line.split("=", 1)[0].strip()
        for line in (DEPLOY / "local.env").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }
    check_setting_names(names, "deploy/local.env")


def test_compose_is_consistent_with_the_code() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {
        "postgres",
        "rabbitmq",
        "seaweedfs",
        "migrate",
        "api",
        "relay",
        "projector",
        "watchdog",
        "webhooks",
        "notifier",
        "generator",
    } <= set(services)
    for name, svc in services.items():
        env = svc.get("environment") or {}
        check_setting_names({k for k in env if k.startswith("SORAMI_")}, f"compose {name}")
        build = svc.get("build")
        if not build:
            continue
        dockerfile = ROOT / build["dockerfile"]
        assert dockerfile.exists(), dockerfile
        entry = re.search(r'ENTRYPOINT \["sorami-(\w+)"\]', dockerfile.read_text())
        assert entry, f"{dockerfile}: no sorami entrypoint"
        service = entry.group(1)
        assert svc["command"][0] in COMMANDS[service], (name, svc["command"])
        # the image's env prefix matches the service it runs
        assert all(k.startswith(f"SORAMI_{service.upper()}_") for k in env), name
    gpu = services["generator"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"]
    assert "nvidia/cuda" in (ROOT / "deploy/docker/generator.Dockerfile").read_text()
    weed = services["seaweedfs"]["command"]
    assert "server" in weed and "-s3" in weed


def test_example_models_file_loads() -> None:
    models = load_models_file(DEPLOY / "models.example.yaml")
    assert {m.kind.value for m in models.values()} == {"image", "video"}
    settings = GeneratorSettings(models_file=DEPLOY / "models.example.yaml")
    assert {"tiny-image", "tiny-video", "sd-turbo"} <= set(settings.registry)
    # the README's allow-lists over this file: every default within the model and the caps
    gateway = GatewaySettings(
        environment="development",
        models_file=DEPLOY / "models.example.yaml",
        image_models=["tiny-image", "sd-turbo"],
        video_models=["tiny-video", "wan-1.3b", "ltx-video"],
    )
    assert [m["name"] for m in catalog(gateway)] == [
        "tiny-image",
        "sd-turbo",
        "tiny-video",
        "wan-1.3b",
        "ltx-video",
    ]
    # every entry: its family's rules filled in, and its defaults within them and the caps
    images = [n for n, m in models.items() if m.kind.value == "image"]
    videos = [n for n, m in models.items() if m.kind.value == "video"]
    everything = GatewaySettings(
        environment="development",
        models_file=DEPLOY / "models.example.yaml",
        image_models=images,
        video_models=videos,
    )
    families = {m["rules"]["family"] for m in catalog(everything)}
    assert families == set(FAMILIES), "one entry per family"


def test_gateway_and_generator_read_the_same_model_registry() -> None:
    # one registry for both services: the gateway validates against what the generator runs
    local = dict(
        line.split("=", 1)
        for line in (DEPLOY / "local.env").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]
    for where, gateway, generator in (
        ("deploy/local.env", local, local),
        ("compose", compose["api"]["environment"], compose["generator"]["environment"]),
    ):
        for name in ("MODELS_FILE", "MODELS"):
            assert gateway.get(f"SORAMI_GATEWAY_{name}") == generator.get(
                f"SORAMI_GENERATOR_{name}"
            ), (where, name)
    mounts = {
        svc: [v for v in compose[svc].get("volumes", []) if v.endswith("/config/models.yaml:ro")]
        for svc in ("api", "relay", "projector", "generator")
    }
    assert all(len(m) == 1 and m == mounts["generator"] for m in mounts.values()), mounts
    assert (DEPLOY / mounts["generator"][0].split(":")[0]).exists()


def test_every_distribution_is_installed_and_the_cli_stands_alone() -> None:
    """The Makefile builds every distribution; the `sorami` command ships in sorami-cli only,
    which depends on the shared contracts and httpx, never on the gateway."""
    pyprojects = [ROOT / "shared/pyproject.toml", *ROOT.glob("services/*/pyproject.toml")]
    found = {p.parent.relative_to(ROOT).as_posix() for p in pyprojects}
    makefile = (ROOT / "Makefile").read_text()
    dists = re.search(r"^DISTS := (.+)$", makefile, re.MULTILINE)
    assert dists and set(dists.group(1).split()) == found
    install = next(line for line in makefile.splitlines() if "pip install -q -e" in line)
    assert all(f"-e {d}" in install or f"-e '{d}[" in install for d in found), install

    projects = {
        d: tomllib.loads((ROOT / d / "pyproject.toml").read_text())["project"] for d in found
    }
    owners = {d for d, project in projects.items() if "sorami" in project.get("scripts", {})}
    assert owners == {"services/cli"}
    cli = projects["services/cli"]
    assert cli["scripts"]["sorami"] == "sorami_cli.main:main"
    assert {re.split(r"[\[<>=]", dep)[0] for dep in cli["dependencies"]} == {
        "sorami-shared",
        "httpx",
    }


def test_local_env_comments_match_the_supervisor() -> None:
    """deploy/local.env names every supervised process's metrics port and every gateway
    command, as scripts/supervisor.py runs them."""
    text = (DEPLOY / "local.env").read_text()
    ports = {name: int(port) for port, name in re.findall(r"\b(93\d\d) ([\w-]+)", text)}
    assert ports == metrics_ports()
    header = re.search(r"^# --- gateway \(sorami-gateway ([^)]*)\)", text, re.M)
    assert header, "deploy/local.env: no gateway section header"
    listed = {c.strip() for c in header.group(1).split("|")}
    supervised = {cmd for service, cmd in supervised_commands().values() if service == "gateway"}
    assert listed == COMMANDS["gateway"] and supervised | {"migrate"} == listed
