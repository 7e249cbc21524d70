#!/usr/bin/env python3
"""``make down``: stop the supervisor and every process it started; verify none is left.

Stdlib only (works even when .venv is gone). Order: SIGTERM the supervisor (it SIGTERMs its
children, waits, SIGKILLs stragglers); if it does not exit in time, SIGKILL its whole process
group; then check every pid it recorded in .run/state.json and every member of its process
group, and kill what is still alive.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run_state  # noqa: E402  (scripts/run_state.py)
from procfs import proc_stats  # noqa: E402  (scripts/procfs.py)

ROOT = run_state.ROOT
DEFAULT_GRACE_S = 40.0  # a supervisor that did not record its own (an older one)
SUPERVISOR_MARGIN_S = 15.0


def say(message: str) -> None:
    print(f"[down] {message}", flush=True)


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = [p for p in pids if run_state.pid_alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [p for p in alive if run_state.pid_alive(p)]
    return alive


def group_members(pgid: int) -> list[int]:
    """Processes in process group ``pgid`` (the supervisor is a session/group leader)."""
    return [
        pid
        for pid, fields in proc_stats()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z"
    ]


def ours(pid: int) -> bool:
    """Is ``pid`` a process of this checkout (a .venv/bin command or our supervisor)?"""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return str(ROOT).encode() in cmdline or b"sorami" in cmdline


def kill(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def report_stops(run_dir: Path) -> None:
    """How each process ended, as the supervisor recorded it (.run/state.json)."""
    processes = run_state.read_state(run_dir).get("processes", [])
    stops = {p["name"]: p.get("stop") for p in processes if p.get("stop")}
    killed = {n: s for n, s in stops.items() if s.startswith("SIGKILL")}
    for name, how in killed.items():
        say(f"{name}: {how} (a job it held goes back to the queue and is redone)")
    if stops and not killed:
        slowest = max(stops, key=lambda n: float(stops[n].split()[2].rstrip("s")))
        say(f"every process exited on SIGTERM (the last: {slowest}, {stops[slowest]})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", type=Path, default=ROOT / ".run")
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds to wait for the supervisor (default: its own grace + 15)",
    )
    args = parser.parse_args(argv)
    run_dir = args.run_dir.resolve()

    state = run_state.read_state(run_dir)
    grace = float(state.get("stop_grace_s") or DEFAULT_GRACE_S)
    if args.timeout is None:
        args.timeout = grace + SUPERVISOR_MARGIN_S
    recorded = [p["pid"] for p in state.get("processes", []) if p.get("pid")]
    sup_pid = run_state.supervisor_running(run_dir) or state.get("supervisor_pid")

    if sup_pid and run_state.pid_alive(sup_pid) and ours(sup_pid):
        say(
            f"stopping the supervisor (pid {sup_pid}) and its processes: a generator may "
            f"finish its jobs in hand (up to {grace:g}s, SORAMI_GENERATOR_SHUTDOWN_GRACE_S)"
        )
        kill([sup_pid], signal.SIGTERM)
        if wait_gone([sup_pid], args.timeout):
            say(f"the supervisor did not stop in {args.timeout:.0f}s; SIGKILL its process group")
            try:
                os.killpg(sup_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            wait_gone([sup_pid], 5)
        report_stops(run_dir)
    else:
        say("the supervisor is not running")

    # Anything left: recorded children, or members of the supervisor's process group.
    leftovers = {p for p in recorded if run_state.pid_alive(p) and ours(p)}
    if sup_pid:
        leftovers |= {p for p in group_members(sup_pid) if ours(p)}
    leftovers.discard(os.getpid())
    if leftovers:
        say(f"terminating leftover processes: {sorted(leftovers)}")
        kill(sorted(leftovers), signal.SIGTERM)
        still = wait_gone(sorted(leftovers), 10)
        if still:
            kill(still, signal.SIGKILL)
            still = wait_gone(still, 5)
        if still:
            say(f"could not stop: {still}")
            return 1

    (run_dir / "supervisor.pid").unlink(missing_ok=True)
    remaining = [p for p in recorded if run_state.pid_alive(p)]
    if sup_pid:
        remaining += [p for p in group_members(sup_pid) if ours(p)]
    if remaining:
        say(f"still running: {sorted(set(remaining))}")
        return 1
    say("stopped; no Sorami process is left")
    return 0


if __name__ == "__main__":
    sys.exit(main())
