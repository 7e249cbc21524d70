"""The ``.run`` directory of ``make up``: environment, pid files, state and the status table.

Stdlib only. Shared by the supervisor (scripts/supervisor.py, scripts/supervision.py) and by
``make up`` / ``make down`` / ``make reset`` / ``make ps``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines; ``#`` comments and blank lines ignored; optional quotes stripped."""
    env: dict[str, str] = {}
    if not path.exists():
        return env
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def process_env(env_file: Path) -> dict[str, str]:
    env = read_env_file(env_file)
    env.update(os.environ)  # the caller's environment wins over the file
    env["PYTHONUNBUFFERED"] = "1"
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def pid_alive(pid: int | None) -> bool:
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def supervisor_running(run_dir: Path) -> int | None:
    """The running supervisor's pid, or None."""
    pid = read_pid(run_dir / "supervisor.pid")
    if pid and pid_alive(pid) and _is_supervisor(pid):
        return pid
    return None


def _is_supervisor(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc: trust the pid file
    return any(part.endswith(b"supervisor.py") for part in cmdline)


def read_state(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "state.json").read_text())
    except (OSError, ValueError):
        return {}


def print_status(run_dir: Path) -> int:
    pid = supervisor_running(run_dir)
    state = read_state(run_dir)
    if pid is None:
        print("Sorami is not running (no supervisor). Start it with `make up`.")
        leftovers = [p for p in state.get("processes", []) if p.get("pid") and pid_alive(p["pid"])]
        for p in leftovers:
            print(f"  warning: {p['name']} (pid {p['pid']}) is still alive; run `make down`")
        return 0
    rows = [("NAME", "PID", "STATE", "RESTARTS", "UPTIME", "LOG")]
    now = time.time()
    for p in state.get("processes", []):
        alive = pid_alive(p.get("pid"))
        st = p["state"]
        if st == "running" and not alive:
            st = "exited"
        uptime = ""
        if st == "running" and p.get("started_at"):
            uptime = _fmt_duration(now - p["started_at"])
        rows.append((p["name"], str(p.get("pid") or "-"), st, str(p["restarts"]), uptime, p["log"]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    shown = run_dir.relative_to(ROOT) if run_dir.is_relative_to(ROOT) else run_dir
    print(f"supervisor pid {pid} ({shown})")
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return 0


def _fmt_duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
