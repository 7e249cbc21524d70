#!/usr/bin/env python3
"""Sorami's local process supervisor (stdlib only) — what ``make up`` / ``make ps`` use.

Runs every Sorami process in the background, as systemd or Kubernetes would in production:

    gateway-api        sorami-gateway api          metrics: http://127.0.0.1:9310/metrics
    gateway-relay      sorami-gateway relay        metrics: http://127.0.0.1:9311/metrics
    gateway-projector  sorami-gateway projector    metrics: http://127.0.0.1:9312/metrics
    gateway-watchdog   sorami-gateway watchdog     metrics: http://127.0.0.1:9313/metrics
    generator          sorami-generator run        metrics: http://127.0.0.1:9314/metrics
    notifier           sorami-notifier run         metrics: http://127.0.0.1:9315/metrics

* commands come from ``.venv/bin``; environment = ``deploy/local.env`` overlaid by the caller's
  environment (so ``SORAMI_GATEWAY_LOG_LEVEL=DEBUG make up`` works); cwd = the repo root;
* each process writes to ``.run/logs/<name>.log``; the supervisor to ``.run/logs/supervisor.log``;
* a process that exits is restarted with exponential backoff (1 s … 30 s; reset after it has
  run 60 s), and the restart is logged in both logs;
* ``.run/state.json`` holds name, pid, state and restarts of each; ``.run/supervisor.pid`` the
  supervisor's own pid (it daemonizes: double fork + setsid, so it is its own process group);
* SIGTERM (or SIGINT): SIGTERM to every child, wait up to ``--grace`` seconds, SIGKILL the
  stragglers, remove the pid file, exit 0.

Usage::

    scripts/supervisor.py               # start in the background unless already running
    scripts/supervisor.py --foreground  # same, attached (Ctrl-C stops everything)
    scripts/supervisor.py --status      # table: name, pid, state, restarts
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"

# Each process serves Prometheus metrics at http://127.0.0.1:PORT/metrics (README: Metrics).
METRICS_PORTS: dict[str, int] = {
    "gateway-api": 9310,
    "gateway-relay": 9311,
    "gateway-projector": 9312,
    "gateway-watchdog": 9313,
    "generator": 9314,
    "notifier": 9315,
}
DEFAULT_PROCESSES: dict[str, list[str]] = {
    name: [*argv, "--metrics-port", str(METRICS_PORTS[name])]
    for name, argv in {
        "gateway-api": ["sorami-gateway", "api"],
        "gateway-relay": ["sorami-gateway", "relay"],
        "gateway-projector": ["sorami-gateway", "projector"],
        "gateway-watchdog": ["sorami-gateway", "watchdog"],
        "generator": ["sorami-generator", "run"],
        "notifier": ["sorami-notifier", "run"],
    }.items()
}

BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 30.0
HEALTHY_AFTER_S = 60.0  # a process that ran this long starts its backoff from scratch again


# --------------------------------------------------------------------------------------------
# helpers shared with sorami_up.py / sorami_down.py (they import this module)


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


# --------------------------------------------------------------------------------------------
# the supervisor


@dataclass
class Child:
    name: str
    argv: list[str]
    log_path: Path
    proc: subprocess.Popen | None = None
    state: str = "stopped"
    restarts: int = 0
    started_at: float = 0.0
    next_start: float = 0.0
    backoff: float = BACKOFF_START_S
    last_exit: int | None = None
    history: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


class Supervisor:
    def __init__(
        self, processes: dict[str, list[str]], run_dir: Path, env: dict[str, str], grace: float
    ) -> None:
        self.run_dir = run_dir
        self.log_dir = run_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.env = env
        self.grace = grace
        self.stopping = False
        self.children = [
            Child(name, self._resolve(argv), self.log_dir / f"{name}.log")
            for name, argv in processes.items()
        ]

    @staticmethod
    def _resolve(argv: list[str]) -> list[str]:
        exe = VENV_BIN / argv[0]
        return [str(exe) if exe.exists() else argv[0], *argv[1:]]

    def log(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        print(f"{stamp} supervisor: {message}", flush=True)

    def _child_log(self, child: Child, message: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        with child.log_path.open("a") as f:
            f.write(f"{stamp} [supervisor] {message}\n")

    def write_state(self) -> None:
        state = {
            "supervisor_pid": os.getpid(),
            "updated_at": time.time(),
            "processes": [
                {
                    "name": c.name,
                    "pid": c.pid if c.state in ("running", "stopping") else None,
                    "state": c.state,
                    "restarts": c.restarts,
                    "last_exit": c.last_exit,
                    "command": " ".join(c.argv),
                    "log": str(c.log_path.relative_to(ROOT))
                    if c.log_path.is_relative_to(ROOT)
                    else str(c.log_path),
                    "started_at": c.started_at or None,
                }
                for c in self.children
            ],
        }
        tmp = self.run_dir / "state.json.tmp"
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.run_dir / "state.json")

    def start(self, child: Child) -> None:
        with child.log_path.open("ab") as out:
            try:
                child.proc = subprocess.Popen(
                    child.argv,
                    cwd=ROOT,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            except OSError as exc:
                child.proc = None
                child.state = "backoff"
                child.last_exit = None
                self._schedule_restart(child, f"could not start: {exc}")
                return
        child.state = "running"
        child.started_at = time.time()
        self.log(f"started {child.name} (pid {child.proc.pid}): {' '.join(child.argv)}")

    def _schedule_restart(self, child: Child, why: str) -> None:
        if child.started_at and time.time() - child.started_at >= HEALTHY_AFTER_S:
            child.backoff = BACKOFF_START_S
        delay = child.backoff
        child.backoff = min(child.backoff * 2, BACKOFF_MAX_S)
        child.next_start = time.time() + delay
        child.state = "backoff"
        message = f"{child.name} {why}; restarting in {delay:.0f}s (restart #{child.restarts + 1})"
        self.log(message)
        self._child_log(child, message)

    def reap(self) -> bool:
        changed = False
        for child in self.children:
            if child.proc is None or child.state != "running":
                continue
            code = child.proc.poll()
            if code is None:
                continue
            child.last_exit = code
            child.proc = None
            changed = True
            self._schedule_restart(child, f"exited with code {code}")
        return changed

    def restart_due(self) -> bool:
        changed = False
        now = time.time()
        for child in self.children:
            if child.state == "backoff" and now >= child.next_start:
                child.restarts += 1
                self.start(child)
                changed = True
        return changed

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        self.log(f"supervisor {os.getpid()} starting {len(self.children)} processes")
        for child in self.children:
            self.start(child)
        self.write_state()
        last_write = time.time()
        while not self.stopping:
            changed = self.reap() | self.restart_due()
            if changed or time.time() - last_write > 5:
                self.write_state()
                last_write = time.time()
            time.sleep(0.2)
        self.shutdown()
        return 0

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.stopping = True

    def shutdown(self) -> None:
        self.log("stopping: SIGTERM to every process")
        live = [c for c in self.children if c.proc is not None and c.proc.poll() is None]
        for child in self.children:
            if child.state == "backoff":
                child.state = "stopped"
        for child in live:
            child.state = "stopping"
            try:
                child.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        self.write_state()
        deadline = time.time() + self.grace
        while time.time() < deadline and any(c.proc.poll() is None for c in live):
            time.sleep(0.1)
        for child in live:
            code = child.proc.poll()
            if code is None:
                self.log(f"{child.name} (pid {child.proc.pid}) ignored SIGTERM; SIGKILL")
                self._child_log(child, f"did not stop within {self.grace:.0f}s; SIGKILL")
                child.proc.kill()
                code = child.proc.wait()
            child.last_exit = code
            child.state = "stopped"
            self.log(f"{child.name} stopped (exit {code})")
            child.proc = None
        self.write_state()
        pid_file = self.run_dir / "supervisor.pid"
        if read_pid(pid_file) == os.getpid():
            pid_file.unlink(missing_ok=True)
        self.log("supervisor stopped")


def daemonize(run_dir: Path) -> bool:
    """Double fork + setsid. Returns True in the daemon; the caller's process returns False
    once the daemon has written its pid file (or after a timeout)."""
    pid_file = run_dir / "supervisor.pid"
    pid_file.unlink(missing_ok=True)
    read_fd, write_fd = os.pipe()
    first = os.fork()
    if first > 0:
        os.close(write_fd)
        os.waitpid(first, 0)
        with os.fdopen(read_fd) as r:
            r.read()  # returns when the daemon closes its end (pid file written)
        return False
    os.close(read_fd)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir(ROOT)
    os.umask(0o022)
    log_path = run_dir / "logs" / "supervisor.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    devnull = os.open(os.devnull, os.O_RDONLY)
    out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(devnull, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(devnull)
    os.close(out)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    pid_file.write_text(str(os.getpid()))
    os.close(write_fd)
    return True


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


def parse_processes(specs: list[str] | None) -> dict[str, list[str]]:
    if not specs:
        return dict(DEFAULT_PROCESSES)
    out: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, command = spec.partition("=")
        if not sep or not name or not command.strip():
            raise SystemExit(f"--process expects NAME=COMMAND, got {spec!r}")
        import shlex

        out[name] = shlex.split(command)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--status", action="store_true", help="print each process and exit")
    parser.add_argument("--foreground", action="store_true", help="do not daemonize")
    parser.add_argument("--run-dir", type=Path, default=ROOT / ".run")
    parser.add_argument("--env-file", type=Path, default=ROOT / "deploy" / "local.env")
    parser.add_argument("--grace", type=float, default=20.0, help="seconds before SIGKILL")
    parser.add_argument(
        "--process",
        action="append",
        metavar="NAME=COMMAND",
        help="run this instead of the default set (repeatable; for tests)",
    )
    args = parser.parse_args(argv)
    run_dir: Path = args.run_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)

    if args.status:
        return print_status(run_dir)

    running = supervisor_running(run_dir)
    if running:
        print(f"supervisor already running (pid {running}); nothing to do")
        return 0

    processes = parse_processes(args.process)
    env = process_env(args.env_file)
    if not args.foreground:
        if not daemonize(run_dir):
            pid = supervisor_running(run_dir)
            if pid is None:
                print(
                    f"supervisor did not start; see {run_dir / 'logs' / 'supervisor.log'}",
                    file=sys.stderr,
                )
                return 1
            print(f"supervisor started (pid {pid}); logs in {run_dir / 'logs'}")
            return 0
    else:
        (run_dir / "supervisor.pid").write_text(str(os.getpid()))
    try:
        return Supervisor(processes, run_dir, env, args.grace).run()
    except Exception as exc:  # noqa: BLE001 - write it to the supervisor log, then die
        print(f"supervisor crashed: {exc!r}", file=sys.stderr)
        raise


if __name__ == "__main__":
    sys.exit(main())
