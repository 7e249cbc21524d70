"""``sorami batch FILE.jsonl [--kind image|video] [--wait]``: one ``POST /api/batches`` with
every line of FILE (each a generate body), then, with ``--wait``, a progress bar of the
batch's finished jobs (stderr) until none is left unfinished."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from .errors import EXIT_ERROR, EXIT_OK, EXIT_USAGE, CliError
from .http import Client
from .progress import print_json, progress_bar

FINISHED = ("COMPLETED", "FAILED", "CANCELLED")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", EXIT_USAGE) from exc
    items = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CliError(f"{path}:{number}: not JSON ({exc.msg})", EXIT_USAGE) from exc
        if not isinstance(item, dict):
            raise CliError(f"{path}:{number}: not a JSON object", EXIT_USAGE)
        items.append(item)
    if not items:
        raise CliError(f"{path}: no jobs", EXIT_USAGE)
    return items


def wait_batch(client: Client, batch_id: str, size: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        view = client.request("GET", f"/api/batches/{batch_id}", params={"limit": 1})
        done = sum(view["counts"].get(s, 0) for s in FINISHED)
        line = progress_bar(f"batch {batch_id[:8]} {done}/{size}", "", done * 100 // size)
        if line != last:
            sys.stderr.write(line)
            sys.stderr.flush()
            last = line
        if view["done"]:
            sys.stderr.write("\n")
            return view
        if time.monotonic() > deadline:
            sys.stderr.write("\n")
            raise CliError(f"batch {batch_id}: {done}/{size} finished after {timeout:.0f}s")
        time.sleep(0.5)


def cmd_batch(args: argparse.Namespace, client: Client) -> int:
    items = read_jsonl(Path(args.file))
    created = client.request("POST", "/api/batches", json={"kind": args.kind, "requests": items})
    if not args.wait:
        print_json(created) if args.json else print(created["batch_id"])
        return EXIT_OK
    view = wait_batch(client, str(created["batch_id"]), int(created["size"]), args.timeout)
    if args.json:
        print_json(view)
    else:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(view["counts"].items()))
        print(f"batch {created['batch_id']}: {counts}")
    return EXIT_ERROR if view["counts"].get("FAILED") else EXIT_OK
