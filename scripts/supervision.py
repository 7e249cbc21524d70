"""The supervisor's loop: start every child, restart the ones that exit (with backoff), write
``.run/state.json``, and on SIGTERM stop them all (SIGKILL after the grace period)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from run_state import ROOT, VENV_BIN, read_pid

BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 30.0
HEALTHY_AFTER_S = 60.0  # a process that ran this long starts its backoff from scratch again


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
    stop: str | None = None  # how it ended at shutdown: "exit 0 3.1s after SIGTERM", "SIGKILL ..."

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
            "stop_grace_s": self.grace,
            "processes": [
                {
                    "name": c.name,
                    "pid": c.pid if c.state in ("running", "stopping") else None,
                    "state": c.state,
                    "restarts": c.restarts,
                    "last_exit": c.last_exit,
                    "stop": c.stop,
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
        self.log(
            f"stopping: SIGTERM to every process; waiting up to {self.grace:g}s "
            "(a generator finishes the jobs in hand within its SHUTDOWN_GRACE_S) before SIGKILL"
        )
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
        began = time.time()
        deadline = began + self.grace
        took: dict[str, float] = {}
        while time.time() < deadline and any(c.proc.poll() is None for c in live):
            for child in live:
                if child.name not in took and child.proc.poll() is not None:
                    took[child.name] = time.time() - began
            time.sleep(0.1)
        for child in live:
            code = child.proc.poll()
            if code is None:
                self.log(
                    f"{child.name} (pid {child.proc.pid}) did not stop within {self.grace:g}s "
                    "of SIGTERM; SIGKILL"
                )
                self._child_log(child, f"did not stop within {self.grace:.0f}s; SIGKILL")
                child.proc.kill()
                code = child.proc.wait()
                child.stop = f"SIGKILL after {self.grace:g}s"
            else:
                seconds = took.get(child.name, time.time() - began)
                child.stop = f"exit {code} {seconds:.1f}s after SIGTERM"
            child.last_exit = code
            child.state = "stopped"
            self.log(f"{child.name} stopped: {child.stop}")
            self._child_log(child, f"stopped: {child.stop}")
            child.proc = None
        self.write_state()
        pid_file = self.run_dir / "supervisor.pid"
        if read_pid(pid_file) == os.getpid():
            pid_file.unlink(missing_ok=True)
        self.log("supervisor stopped")
