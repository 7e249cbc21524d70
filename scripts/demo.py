#!/usr/bin/env python3
"""``make demo`` (the end of ``make run``): Sorami end to end through the REST API, as user
``demo``: one image and one video, progress shown, files downloaded into .data/demo/, their
URLs printed, then the user's notifications. Leaves the system running.

The token is minted by the same code as ``sorami token demo``; every other call is the public
REST API (the same client as the ``sorami`` command).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from sorami_cli.config import DEFAULT_URL, development_token, load_local_env
from sorami_cli.errors import CliError
from sorami_cli.http import Client
from sorami_cli.progress import TERMINAL, download_result, format_notification, progress_bar

ROOT = Path(__file__).resolve().parent.parent

JOBS = [
    (
        "image",
        {
            "prompt": "a lighthouse on a cliff at dawn, watercolor",
            "width": 64,
            "height": 64,
            "num_inference_steps": 4,
            "num_images": 1,
            "seed": 42,
        },
    ),
    (
        "video",
        {
            "prompt": "waves rolling onto a beach, slow motion",
            "width": 64,
            "height": 64,
            "num_inference_steps": 4,
            "num_frames": 8,
            "fps": 8,
            "seed": 42,
        },
    ),
]


def say(message: str) -> None:
    print(message, flush=True)


def check_file(path: Path, mime_type: str) -> str:
    head = path.read_bytes()[:16]
    if mime_type == "image/png" and head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if mime_type == "video/mp4" and head[4:8] == b"ftyp":
        return "MP4"
    raise SystemExit(f"demo: {path} is not a valid {mime_type} file")


def follow(client: Client, jobs: list[tuple[str, str]], timeout: float) -> dict[str, dict]:
    """Poll every job, one progress line per job (redrawn in place on a terminal)."""
    tty = sys.stderr.isatty()
    final: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    drawn = 0
    last_plain: dict[str, str] = {}
    while len(final) < len(jobs):
        lines = []
        for kind, job_id in jobs:
            status = final.get(job_id) or client.status(kind, job_id)
            if status["status"] in TERMINAL:
                final[job_id] = status
            lines.append(
                progress_bar(
                    f"  {kind:<5} {job_id[:8]}", status["status"], status.get("progress") or 0
                ).lstrip("\r")
            )
        if tty:
            if drawn:
                sys.stderr.write(f"\x1b[{drawn}F")
            sys.stderr.write("".join(f"\x1b[2K{line}\n" for line in lines))
            drawn = len(lines)
        else:
            for (_, job_id), line in zip(jobs, lines, strict=True):
                if last_plain.get(job_id) != line:
                    sys.stderr.write(line.rstrip() + "\n")
                    last_plain[job_id] = line
        sys.stderr.flush()
        if len(final) == len(jobs):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"demo: jobs not finished after {timeout:.0f}s; see .run/logs/")
        time.sleep(0.25)
    return final


def wait_for_notifications(client: Client, job_ids: set[str], timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        page = client.notifications(limit=50)
        mine = [n for n in page["items"] if n["data"].get("job_id") in job_ids]
        if {n["data"]["job_id"] for n in mine} >= job_ids:
            return mine
        if time.monotonic() > deadline:
            raise SystemExit(
                f"demo: notifications for {sorted(job_ids - {n['data']['job_id'] for n in mine})} "
                f"did not arrive within {timeout:.0f}s; see .run/logs/notifier.log"
            )
        time.sleep(0.25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--user", default="demo")
    parser.add_argument("--out", type=Path, default=ROOT / ".data" / "demo")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)

    os.chdir(ROOT)  # deploy/local.env is found from here
    load_local_env()
    base = os.environ.get("SORAMI_GATEWAY_PUBLIC_BASE_URL", DEFAULT_URL)
    try:
        token = development_token(args.user)
    except CliError as exc:
        raise SystemExit(f"demo: {exc}") from exc

    started = time.monotonic()
    with Client(base, token) as client:
        try:
            client.request("GET", "/readyz")
        except CliError as exc:
            raise SystemExit(f"demo: the system is not up ({exc}); run `make up` first") from exc
        say(f"\nSorami demo as user {args.user!r} against {base}")
        submitted: list[tuple[str, str]] = []
        for kind, body in JOBS:
            accepted = client.generate(kind, body)
            say(f"  POST /api/{kind}s/generate → 202 {accepted['job_id']} ({body['prompt']!r})")
            submitted.append((kind, accepted["job_id"]))

        final = follow(client, submitted, args.timeout)
        failed = {j: s for j, s in final.items() if s["status"] != "COMPLETED"}
        if failed:
            for job_id, s in failed.items():
                print(f"demo: {job_id} {s['status']}: {s.get('error')}", file=sys.stderr)
            return 1

        say("\nFiles:")
        for kind, job_id in submitted:
            result = client.result(kind, job_id)
            for saved, info in zip(
                download_result(client, result, args.out), result["files"], strict=True
            ):
                path = Path(saved["path"])
                kind_label = check_file(path, info["mime_type"])
                dims = f"{info['width']}x{info['height']}"
                extra = (
                    f", {info['frame_count']} frames @ {info['fps']:g} fps"
                    if kind == "video" and info.get("frame_count")
                    else ""
                )
                say(f"  {kind} {job_id}: {kind_label} {dims}{extra}, {info['bytes']} bytes")
                say(f"    saved  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
                say(f"    url    {saved['url']}")
                if "poster_path" in saved:
                    poster = Path(saved["poster_path"])
                    shown = poster.relative_to(ROOT) if poster.is_relative_to(ROOT) else poster
                    say(f"    poster {shown}")
                    say(f"           {saved['poster_url']}")

        notes = wait_for_notifications(client, {j for _, j in submitted}, timeout=60)
        say(f"\nNotifications for {args.user!r} ({client.unread_count()} unread):")
        for n in notes:
            say("  " + format_notification(n))

    say(closing(base, args.user, time.monotonic() - started))
    return 0


def closing(base: str, user: str, elapsed_s: float) -> str:
    """The demo's last words; its last line is the web app's URL (the README says so)."""
    return (
        f"\nDone in {elapsed_s:.1f}s. Sorami keeps running: "
        f"`make ps`, `make logs`, `make down`.\n"
        f'Try: .venv/bin/sorami generate image "a red fox" --wait --out .data/demo '
        f"(GET /api/models lists each model's defaults and limits)\n"
        f"Web app: {base}/ (sign in as {user!r} to see these, or as anyone)"
    )


if __name__ == "__main__":
    sys.exit(main())
