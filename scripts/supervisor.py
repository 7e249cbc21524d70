#!/usr/bin/env python3
"""Sorami's local process supervisor (stdlib only) — what ``make up`` / ``make ps`` use.

Runs every Sorami process in the background, as systemd or Kubernetes would in production:

    gateway-api        sorami-gateway api          metrics: http://127.0.0.1:9310/metrics
    gateway-relay      sorami-gateway relay        metrics: http://127.0.0.1:9311/metrics
    gateway-projector  sorami-gateway projector    metrics: http://127.0.0.1:9312/metrics
    gateway-watchdog   sorami-gateway watchdog     metrics: http://127.0.0.1:9313/metrics
    gateway-webhooks   sorami-gateway webhooks     metrics: http://127.0.0.1:9316/metrics
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
  stragglers, remove the pid file, exit 0. The grace defaults to the generator's own
  (``SORAMI_GENERATOR_SHUTDOWN_GRACE_S`` of the processes' environment, 30 s unless set) plus
  ``STOP_MARGIN_S``: one setting decides how long a job in hand may run on; the supervisor
  never SIGKILLs a generator that is still within it. The log says who exited, how and when.

Usage::

    scripts/supervisor.py               # start in the background unless already running
    scripts/supervisor.py --foreground  # same, attached (Ctrl-C stops everything)
    scripts/supervisor.py --status      # table: name, pid, state, restarts
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from run_state import (
    ROOT,
    print_status,
    process_env,
    supervisor_running,
)
from supervision import Supervisor

# Each process serves Prometheus metrics at http://127.0.0.1:PORT/metrics (README: Metrics).
METRICS_PORTS: dict[str, int] = {
    "gateway-api": 9310,
    "gateway-relay": 9311,
    "gateway-projector": 9312,
    "gateway-watchdog": 9313,
    "generator": 9314,
    "notifier": 9315,
    "gateway-webhooks": 9316,
}
# The generator's SHUTDOWN_GRACE_S default (GeneratorSettings; a test keeps them equal), and
# what the supervisor allows beyond it: closing the broker connection and the storage client.
GENERATOR_GRACE_ENV = "SORAMI_GENERATOR_SHUTDOWN_GRACE_S"
GENERATOR_GRACE_DEFAULT_S = 30.0
STOP_MARGIN_S = 10.0


def stop_grace_s(env: dict[str, str]) -> float:
    """How long the supervisor waits after SIGTERM: the generator's grace + a margin."""
    raw = env.get(GENERATOR_GRACE_ENV, "").strip()
    try:
        grace = float(raw) if raw else GENERATOR_GRACE_DEFAULT_S
    except ValueError:
        grace = GENERATOR_GRACE_DEFAULT_S  # the generator refuses to start with it anyway
    return max(grace, 0.0) + STOP_MARGIN_S


DEFAULT_PROCESSES: dict[str, list[str]] = {
    name: [*argv, "--metrics-port", str(METRICS_PORTS[name])]
    for name, argv in {
        "gateway-api": ["sorami-gateway", "api"],
        "gateway-relay": ["sorami-gateway", "relay"],
        "gateway-projector": ["sorami-gateway", "projector"],
        "gateway-watchdog": ["sorami-gateway", "watchdog"],
        "gateway-webhooks": ["sorami-gateway", "webhooks"],
        "generator": ["sorami-generator", "run"],
        "notifier": ["sorami-notifier", "run"],
    }.items()
}


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


def parse_processes(specs: list[str] | None) -> dict[str, list[str]]:
    if not specs:
        return dict(DEFAULT_PROCESSES)
    out: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, command = spec.partition("=")
        if not sep or not name or not command.strip():
            raise SystemExit(f"--process expects NAME=COMMAND, got {spec!r}")
        out[name] = shlex.split(command)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--status", action="store_true", help="print each process and exit")
    parser.add_argument("--foreground", action="store_true", help="do not daemonize")
    parser.add_argument("--run-dir", type=Path, default=ROOT / ".run")
    parser.add_argument("--env-file", type=Path, default=ROOT / "deploy" / "local.env")
    parser.add_argument(
        "--grace",
        type=float,
        default=None,
        help=f"seconds before SIGKILL (default: {GENERATOR_GRACE_ENV} + {STOP_MARGIN_S:.0f})",
    )
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
        grace = args.grace if args.grace is not None else stop_grace_s(env)
        return Supervisor(processes, run_dir, env, grace).run()
    except Exception as exc:  # noqa: BLE001 - write it to the supervisor log, then die
        print(f"supervisor crashed: {exc!r}", file=sys.stderr)
        raise


if __name__ == "__main__":
    sys.exit(main())
