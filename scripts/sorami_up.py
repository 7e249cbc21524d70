#!/usr/bin/env python3
"""``make up``: databases, migrations, every process in the background, then wait until healthy.

Idempotent: a second run finds the databases, applies no migration, sees the supervisor
running and only waits for readiness again.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run_state  # noqa: E402  (scripts/run_state.py)

ROOT = run_state.ROOT
BIN = run_state.VENV_BIN
DEFAULT_DATABASES = {
    "SORAMI_GATEWAY_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:5432/sorami_gateway",
    "SORAMI_NOTIFIER_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:5432/sorami_notifier",
}


WORKERS_ENV = "SORAMI_GATEWAY_WORKERS"
MAX_API_WORKERS = 4  # the generator and the other processes need the cores too


def api_workers() -> int:
    """What the machine's cores allow for `sorami-gateway api` (1 core: 1; at most 4)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_API_WORKERS))


def say(message: str) -> None:
    print(f"[up] {message}", flush=True)


async def admin_connection(url: str) -> tuple[Any, str]:
    """A connection to the server's ``postgres`` database, and the name of the URL's own."""
    import asyncpg

    parts = urlsplit(url.replace("+asyncpg", ""))
    conn = await asyncpg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password,
        database="postgres",
    )
    return conn, parts.path.lstrip("/")


async def ensure_database(url: str) -> bool:
    """Create the URL's database if missing (connecting to ``postgres``); True if created."""
    conn, name = await admin_connection(url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        await conn.execute(f'CREATE DATABASE "{name}"')
        return True
    finally:
        await conn.close()


def migrate(env: dict[str, str], log_dir: Path) -> None:
    log_path = log_dir / "migrate.log"
    for service in ("sorami-gateway", "sorami-notifier"):
        with log_path.open("ab") as log:
            result = subprocess.run(
                [str(BIN / service), "migrate"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=180,
            )
        if result.returncode != 0:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-25:])
            sys.exit(
                f"[up] `{service} migrate` failed (exit {result.returncode}); "
                f"last lines of {log_path.relative_to(ROOT)}:\n{tail}"
            )
        say(f"{service} migrate: ok")


def ready(url: str) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status == 200, f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return False, str(getattr(exc, "reason", exc))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-file", type=Path, default=ROOT / "deploy" / "local.env")
    parser.add_argument("--run-dir", type=Path, default=ROOT / ".run")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for /readyz")
    args = parser.parse_args(argv)

    started = time.monotonic()
    env = run_state.process_env(args.env_file)
    run_dir = args.run_dir.resolve()
    log_dir = run_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    (ROOT / ".data").mkdir(exist_ok=True)

    for key, default in DEFAULT_DATABASES.items():
        url = env.get(key, default)
        created = asyncio.run(ensure_database(url))
        say(f"database {urlsplit(url).path.lstrip('/')}: {'created' if created else 'exists'}")
    migrate(env, log_dir)

    # The supervisor's processes get this environment (it overrides deploy/local.env).
    if WORKERS_ENV not in os.environ and WORKERS_ENV not in env:
        os.environ[WORKERS_ENV] = str(api_workers())
    pid = run_state.supervisor_running(run_dir)
    if pid:
        say(f"already running (supervisor pid {pid})")
    else:
        result = subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "supervisor.py"),
                "--run-dir",
                str(run_dir),
                "--env-file",
                str(args.env_file),
            ],
            cwd=ROOT,
        )
        if result.returncode != 0:
            sys.exit(f"[up] the supervisor did not start; see {log_dir}/supervisor.log")

    base = env.get("SORAMI_GATEWAY_PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
    url = f"{base}/readyz"
    say(f"waiting for {url}")
    deadline = time.monotonic() + args.timeout
    status = ""
    while time.monotonic() < deadline:
        ok, status = ready(url)
        if ok:
            break
        if run_state.supervisor_running(run_dir) is None:
            sys.exit(f"[up] the supervisor stopped; see {log_dir}/supervisor.log")
        time.sleep(0.5)
    else:
        sys.exit(
            f"[up] {url} did not answer 200 within {args.timeout:.0f}s (last: {status}).\n"
            f"     Look at the logs: {log_dir}/gateway-api.log (and the others in {log_dir});\n"
            f"     `make ps` shows which process keeps restarting; `make down` stops everything."
        )
    workers = os.environ.get(WORKERS_ENV) or env.get(WORKERS_ENV)
    say(f"Sorami is up in {time.monotonic() - started:.1f}s: {base} (OpenAPI at {base}/docs)")
    say(f"gateway api: {workers} worker process(es) ({WORKERS_ENV})")
    say(f"Web app: {base}/")
    run_state.print_status(run_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
