"""Following a job to its end (progress bar on stderr), downloading its files, printing."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import CliError
from .events import TERMINAL_EVENTS, EventStream
from .http import Client
from .terminal import safe

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}


def progress_bar(label: str, status: str, progress: int, width: int = 30) -> str:
    progress = max(0, min(100, int(progress or 0)))
    filled = round(width * progress / 100)
    return f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {progress:3d}% {status:<10}"


def wait_for(
    client: Client,
    kind: str,
    job_id: str,
    *,
    timeout: float = 600.0,
    interval: float = 0.25,
    label: str | None = None,
    stream: Any = None,
    on_update: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Poll the status until it is terminal, drawing a progress bar on ``stream`` (stderr)."""
    stream = sys.stderr if stream is None else stream
    label = label or f"{kind} {job_id[:8]}"
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        status = client.status(kind, job_id)
        if on_update is not None:
            on_update(status)
        line = progress_bar(label, status["status"], status.get("progress") or 0)
        if line != last and stream is not False:
            stream.write(line)
            stream.flush()
            last = line
        if status["status"] in TERMINAL:
            if stream is not False:
                stream.write("\n")
                stream.flush()
            return status
        if time.monotonic() > deadline:
            if stream is not False:
                stream.write("\n")
            raise CliError(f"{kind} {job_id} still {status['status']} after {timeout:.0f}s")
        time.sleep(interval)


def follow_events(
    client: Client,
    events: EventStream,
    kind: str,
    job_id: str,
    *,
    timeout: float = 600.0,
    label: str | None = None,
    stream: Any = None,
) -> dict[str, Any]:
    """Follow ``job_id`` on an open event stream until it ends, drawing the progress bar;
    returns its final status (re-read from the API: the stream's frames are hints)."""
    stream = sys.stderr if stream is None else stream
    label = label or f"{kind} {job_id[:8]}"
    deadline = time.monotonic() + timeout
    last = ""
    for item in events:
        if item is not None and item.data.get("job_id") == job_id and "status" in item.data:
            status = TERMINAL_EVENTS.get(item.event, item.data["status"])
            line = progress_bar(label, status, item.data.get("progress") or 0)
            if line != last:
                stream.write(line)
                stream.flush()
                last = line
            if item.event in TERMINAL_EVENTS:
                stream.write("\n")
                stream.flush()
                if item.event == "generation.deleted":
                    raise CliError(f"{kind} {job_id} was deleted")
                return client.status(kind, job_id)
        if time.monotonic() > deadline:
            stream.write("\n")
            raise CliError(f"{kind} {job_id} not finished after {timeout:.0f}s")
    raise CliError("the event stream ended")  # pragma: no cover - EventStream reconnects


def extension(mime_type: str, url: str) -> str:
    known = {"image/png": "png", "video/mp4": "mp4", "image/jpeg": "jpg", "image/webp": "webp"}
    if mime_type in known:
        return known[mime_type]
    suffix = Path(urlsplit(url).path).suffix.lstrip(".")
    return suffix or "bin"


def download_result(client: Client, result: dict[str, Any], out: Path) -> list[dict[str, Any]]:
    """Download every file (and video poster) of a result into ``out``."""
    saved = []
    job_id = result["job_id"]
    for f in result.get("files", []):
        ext = extension(f.get("mime_type", ""), f["url"])
        path, ctype = client.download(f["url"], out / f"{job_id}-{f['index']}.{ext}")
        item = {
            "index": f["index"],
            "path": str(path),
            "url": client.absolute(f["url"]),
            "content_type": ctype,
        }
        if f.get("poster_url"):
            poster, _ = client.download(f["poster_url"], out / f"{job_id}-{f['index']}-poster.png")
            item["poster_path"] = str(poster)
            item["poster_url"] = client.absolute(f["poster_url"])
        saved.append(item)
    return saved


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def format_notification(n: dict[str, Any]) -> str:
    mark = " " if n.get("read_at") else "*"
    text = f"{n['title']}: {n['message']}"
    return f"{mark} {n.get('created_at', '')}  {safe(text)}  ({n['id']})"
