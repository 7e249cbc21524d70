"""What ``make up`` runs, read from the scripts themselves (scripts/ is not a package): the
supervisor's processes and their metrics ports, so deploy files can be checked against them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"


def supervisor_module() -> ModuleType:
    """scripts/supervisor.py, imported as the module ``sorami_supervisor``."""
    if "sorami_supervisor" in sys.modules:
        return sys.modules["sorami_supervisor"]
    sys.path.insert(0, str(SCRIPTS))
    try:
        path = SCRIPTS / "supervisor.py"
        spec = importlib.util.spec_from_file_location("sorami_supervisor", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPTS))
    sys.modules["sorami_supervisor"] = module
    return module


def supervised_commands() -> dict[str, tuple[str, str]]:
    """Each supervised process: name -> (service, subcommand), e.g. ("gateway", "webhooks")."""
    out = {}
    for name, argv in supervisor_module().DEFAULT_PROCESSES.items():
        out[name] = (argv[0].removeprefix("sorami-"), argv[1])
    return out


def metrics_ports() -> dict[str, int]:
    return dict(supervisor_module().METRICS_PORTS)
