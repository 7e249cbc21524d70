"""scripts/supervisor.py and scripts/sorami_down.py with stand-in processes: a crashed process
is restarted with backoff, state.json and --status tell the truth, and down leaves nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[2]
SLEEPER = (
    f'{sys.executable} -c "import signal, sys, time; '
    'signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); time.sleep(600)"'
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _state(run_dir: Path) -> dict[str, dict]:
    data = json.loads((run_dir / "state.json").read_text())
    return {p["name"]: p for p in data["processes"]}


def _until(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def _supervise(run_dir: Path, *processes: str) -> subprocess.CompletedProcess[str]:
    args = [
        sys.executable,
        str(ROOT / "scripts/supervisor.py"),
        "--run-dir",
        str(run_dir),
        "--env-file",
        str(run_dir / "none.env"),
        "--grace",
        "3",
    ]
    for p in processes:
        args += ["--process", p]
    return subprocess.run(args, capture_output=True, text=True, timeout=30)


def _down(run_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts/sorami_down.py"), "--run-dir", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_restart_status_and_down(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    started = _supervise(run_dir, f"steady={SLEEPER}", f"victim={SLEEPER}")
    assert started.returncode == 0, started.stderr
    sup_pid = int((run_dir / "supervisor.pid").read_text())
    assert _alive(sup_pid)
    # Idempotent: a second start does nothing.
    again = _supervise(run_dir, f"steady={SLEEPER}")
    assert "already running" in again.stdout

    state = _until(lambda: (s := _state(run_dir)) and s["victim"]["pid"] and s)
    victim = state["victim"]["pid"]
    os.kill(victim, signal.SIGKILL)  # a crash
    restarted = _until(
        lambda: (
            (s := _state(run_dir))["victim"]["restarts"] == 1
            and s["victim"]["state"] == "running"
            and s["victim"]["pid"] != victim
            and s
        )
    )
    assert _alive(restarted["victim"]["pid"])
    assert restarted["steady"]["restarts"] == 0
    log = (run_dir / "logs" / "victim.log").read_text()
    assert "exited with code -9; restarting in 1s" in log

    status = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts/supervisor.py"),
            "--status",
            "--run-dir",
            str(run_dir),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "victim" in status.stdout and "running" in status.stdout
    pids = [p["pid"] for p in restarted.values()] + [sup_pid]

    down = _down(run_dir)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "no Sorami process is left" in down.stdout
    assert not any(_alive(p) for p in pids)
    assert not (run_dir / "supervisor.pid").exists()


def test_down_cleans_up_after_a_killed_supervisor(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert _supervise(run_dir, f"orphan={SLEEPER}").returncode == 0
    sup_pid = int((run_dir / "supervisor.pid").read_text())
    child = _until(lambda: _state(run_dir)["orphan"]["pid"])
    os.kill(sup_pid, signal.SIGKILL)
    _until(lambda: not _alive(sup_pid))
    assert _alive(child)
    down = _down(run_dir)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not _alive(child)


# A stand-in generator: on SIGTERM it finishes its "job in hand", taking all of its
# SHUTDOWN_GRACE_S (read from the environment the supervisor gives it), then exits 0.
SLOW_GENERATOR = (
    f'{sys.executable} -c "import os, signal, sys, time; '
    "grace = float(os.environ['SORAMI_GENERATOR_SHUTDOWN_GRACE_S']); "
    "signal.signal(signal.SIGTERM, lambda *a: (time.sleep(grace), sys.exit(0))); "
    'time.sleep(600)"'
)


def test_one_setting_governs_the_generator_grace_and_the_supervisor_wait(tmp_path: Path) -> None:
    """`make down` with a job running: the supervisor waits the generator's own
    SHUTDOWN_GRACE_S (plus a margin) instead of a shorter fixed grace, so the generator is
    not SIGKILLed; the supervisor's log and `make down` say how each process ended."""
    from sorami_generator.settings import GeneratorSettings

    from tests.support.supervised import supervisor_module

    supervisor = supervisor_module()
    default = GeneratorSettings.model_fields["shutdown_grace_s"].default
    assert supervisor.GENERATOR_GRACE_DEFAULT_S == default
    assert supervisor.stop_grace_s({}) == default + supervisor.STOP_MARGIN_S
    assert supervisor.stop_grace_s({"SORAMI_GENERATOR_SHUTDOWN_GRACE_S": "300"}) > 300

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    env_file = run_dir / "local.env"
    env_file.write_text("SORAMI_GENERATOR_SHUTDOWN_GRACE_S=2.5\n")
    started = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts/supervisor.py"),
            "--run-dir",
            str(run_dir),
            "--env-file",
            str(env_file),
            "--process",
            f"generator={SLOW_GENERATOR}",
            "--process",
            f"relay={SLEEPER}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert started.returncode == 0, started.stderr
    _until(lambda: _state(run_dir)["generator"]["pid"])
    state = json.loads((run_dir / "state.json").read_text())
    assert state["stop_grace_s"] == 2.5 + supervisor.STOP_MARGIN_S
    time.sleep(0.5)  # the stand-in has installed its SIGTERM handler

    down = _down(run_dir)
    assert down.returncode == 0, down.stdout + down.stderr
    stops = {
        p["name"]: p["stop"] for p in json.loads((run_dir / "state.json").read_text())["processes"]
    }
    assert stops["generator"].startswith("exit 0 "), stops
    took = float(stops["generator"].split()[2].rstrip("s"))
    assert 2.4 <= took < 2.5 + supervisor.STOP_MARGIN_S
    assert "up to 12.5s" in (run_dir / "logs/supervisor.log").read_text()
    assert "generator stopped: exit 0" in (run_dir / "logs/supervisor.log").read_text()
    assert "stopped: exit 0" in (run_dir / "logs/generator.log").read_text()
    assert "every process exited on SIGTERM (the last: generator" in down.stdout
    assert "SORAMI_GENERATOR_SHUTDOWN_GRACE_S" in down.stdout
