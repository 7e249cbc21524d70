"""Imports in the gateway only go down: entrypoints → features → rest → infra → shared.

The rule, precisely:

1. every module of ``sorami_gateway`` belongs to exactly one layer of :data:`LAYERS` (a new
   module must be placed, or this test fails);
2. a module imports gateway modules of its own layer or of a layer below it, never above
   (every ``import``/``from`` counts, also one inside a function);
3. features may use each other, but the feature packages' import graph has no cycle (the
   order is: generations → guards, events, media, outbox, webhooks, uploads; uploads →
   media; webhooks → outbox;
   notifications → events);
4. ``sorami_shared`` (below every layer) never imports ``sorami_gateway``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import sorami_gateway
import sorami_shared

LAYERS: list[tuple[str, tuple[str, ...]]] = [  # lowest first
    ("infra", ("settings", "webhook_settings", "upload_settings", "infra")),
    ("rest", ("rest",)),
    (
        "features",
        (
            "generations",
            "guards",
            "notifications",
            "events",
            "media",
            "outbox",
            "scheduling",
            "batches",
            "webhooks",
            "uploads",
        ),
    ),
    (
        "entrypoints",
        ("main", "api_server", "app", "tables", "workers", "openai", "migrations"),
    ),
]
FEATURES = dict(LAYERS)["features"]


def modules(package_dir: Path, package: str) -> dict[str, Path]:
    found = {}
    for path in package_dir.rglob("*.py"):
        parts = list(path.relative_to(package_dir).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join([package, *parts])] = path
    return found


def imported(module: str, path: Path) -> set[str]:
    """The absolute names ``module`` imports (relative imports resolved)."""
    is_package = path.name == "__init__.py"
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return names


def layer_of(module: str) -> tuple[int, str] | None:
    """(layer index, top-level part) of a ``sorami_gateway`` module; None if unplaced."""
    parts = module.split(".")
    if parts[0] != "sorami_gateway":
        return None
    if len(parts) == 1:
        return 0, ""  # the package itself (empty)
    for index, (_, tops) in enumerate(LAYERS):
        if parts[1] in tops:
            return index, parts[1]
    return None


def violations(sources: dict[str, Path]) -> list[str]:
    found = []
    feature_edges: dict[str, set[str]] = defaultdict(set)
    for module, path in sorted(sources.items()):
        here = layer_of(module)
        if here is None:
            found.append(f"{module}: in no layer (add it to LAYERS)")
            continue
        for name in imported(module, path):
            there = layer_of(name)
            if there is None:
                continue  # another package, or an attribute of an unplaced one (reported)
            if there[0] > here[0]:
                found.append(
                    f"{module} ({LAYERS[here[0]][0]}) imports {name} ({LAYERS[there[0]][0]})"
                )
            if here[1] in FEATURES and there[1] in FEATURES and here[1] != there[1]:
                feature_edges[here[1]].add(there[1])
    found.extend(f"feature import cycle: {' → '.join(c)}" for c in cycles(feature_edges))
    return found


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return found


def test_the_gateway_imports_only_downwards():
    package_dir = Path(sorami_gateway.__file__).parent
    assert violations(modules(package_dir, "sorami_gateway")) == []


def test_shared_never_imports_the_gateway():
    package_dir = Path(sorami_shared.__file__).parent
    bad = [
        f"{module} imports {name}"
        for module, path in modules(package_dir, "sorami_shared").items()
        for name in imported(module, path)
        if name.split(".")[0] == "sorami_gateway"
    ]
    assert bad == []


def _write(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        path = root / "sorami_gateway" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return modules(root / "sorami_gateway", "sorami_gateway")


def test_the_rule_catches_an_upward_import(tmp_path):
    sources = _write(
        tmp_path,
        {
            "__init__.py": "",
            "infra/__init__.py": "",
            "infra/db.py": "def helper():\n    from ..generations import service\n",
            "generations/__init__.py": "",
            "generations/service.py": "from ..workers.relay import OutboxRelay\n",
            "workers/__init__.py": "",
            "workers/relay.py": "from sorami_gateway.infra import db\n",
            "stray.py": "",
        },
    )
    assert sorted(violations(sources)) == [
        "sorami_gateway.generations.service (features) imports "
        "sorami_gateway.workers.relay (entrypoints)",
        "sorami_gateway.generations.service (features) imports "
        "sorami_gateway.workers.relay.OutboxRelay (entrypoints)",
        "sorami_gateway.infra.db (infra) imports sorami_gateway.generations (features)",
        "sorami_gateway.infra.db (infra) imports sorami_gateway.generations.service (features)",
        "sorami_gateway.stray: in no layer (add it to LAYERS)",
    ]


def test_the_rule_catches_a_cycle_between_features(tmp_path):
    sources = _write(
        tmp_path,
        {
            "__init__.py": "",
            "guards/__init__.py": "",
            "guards/limits.py": "from ..generations.tables import Generation\n",
            "generations/__init__.py": "",
            "generations/admission.py": "from ..guards import limits\n",
        },
    )
    assert violations(sources) == ["feature import cycle: generations → guards → generations"]
