"""One function per ``sorami`` subcommand: ``cmd_x(args) -> exit status``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .config import development_token
from .errors import EXIT_ERROR, EXIT_OK, EXIT_USAGE, CliError
from .events import EventStream, StreamUnavailable
from .http import Client
from .kinds import with_kind
from .progress import (
    download_result,
    follow_events,
    format_notification,
    print_json,
    wait_for,
)
from .terminal import safe

T = TypeVar("T")


def _client(args: argparse.Namespace) -> Client:
    token = args.token or os.environ.get("SORAMI_TOKEN") or development_token(args.user)
    return Client(args.url, token)


def cmd_token(args: argparse.Namespace) -> int:
    print(development_token(args.user_id, args.ttl))
    return EXIT_OK


def generation_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": args.prompt}
    fields = {
        "negative_prompt": args.negative_prompt,
        "width": args.width,
        "height": args.height,
        "num_inference_steps": args.steps,
        "guidance_scale": args.guidance_scale,
        "seed": args.seed,
        "model": args.model,
        "webhook_url": args.webhook,
        "webhook_events": args.webhook_events.split(",") if args.webhook_events else None,
    }
    if args.kind == "image":
        fields["num_images"] = args.num_images
    else:
        fields["num_frames"] = args.num_frames
        fields["fps"] = args.fps
    body.update({k: v for k, v in fields.items() if v is not None})
    return body


def _open_events(client: Client) -> EventStream | None:
    """The event stream, open BEFORE the job is submitted (so none of its events is missed);
    None (the caller polls instead) if this gateway cannot stream."""
    events = client.events()
    try:
        events.open()
    except StreamUnavailable as exc:
        print(f"event stream unavailable ({exc}); polling instead", file=sys.stderr)
        return None
    return events


def cmd_generate(args: argparse.Namespace) -> int:
    if args.kind == "image" and (args.num_frames is not None or args.fps is not None):
        raise CliError("--num-frames and --fps are for videos", EXIT_USAGE)
    if args.kind == "video" and args.num_images is not None:
        raise CliError("--num-images is for images", EXIT_USAGE)
    with _client(args) as client:
        started = time.monotonic()
        events = _open_events(client) if args.wait else None
        try:
            accepted = client.generate(args.kind, generation_body(args))
        except CliError:
            if events is not None:
                events.close()
            raise
        job_id = accepted["job_id"]
        if not args.wait:
            if args.json:
                print_json(accepted)
            else:
                print(job_id)
                print(f"follow it with: sorami status {job_id}", file=sys.stderr)
            return EXIT_OK
        print(f"{args.kind} job {job_id} accepted", file=sys.stderr)
        if events is not None:
            try:
                status = follow_events(client, events, args.kind, job_id, timeout=args.timeout)
            finally:
                events.close()
        else:
            status = wait_for(client, args.kind, job_id, timeout=args.timeout)
        elapsed = time.monotonic() - started
        if status["status"] != "COMPLETED":
            code = f" [{status['error_code']}]" if status.get("error_code") else ""
            raise CliError(
                f"{args.kind} {job_id} {status['status']}{code}: {status.get('error') or '-'}"
            )
        result = client.result(args.kind, job_id)
        saved = download_result(client, result, Path(args.out))
    if args.json:
        print_json({**result, "saved": saved, "elapsed_s": round(elapsed, 3)})
        return EXIT_OK
    print(f"{args.kind} {job_id} COMPLETED in {elapsed:.1f}s")
    for item in saved:
        print(f"  file   {item['path']}")
        print(f"         {item['url']}")
        if "poster_path" in item:
            print(f"  poster {item['poster_path']}")
            print(f"         {item['poster_url']}")
    return EXIT_OK


def _on_job(
    client: Client, args: argparse.Namespace, call: Callable[[str, str], T]
) -> tuple[str, T]:
    """``call(kind, ID)`` for the job's kind: ``--kind``, or found from the ID."""
    return with_kind(client, args.job_id, args.kind, lambda kind: call(kind, args.job_id))


def cmd_batch(args: argparse.Namespace) -> int:
    from .batches import cmd_batch as run

    with _client(args) as client:
        return run(args, client)


def cmd_status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        _, status = _on_job(client, args, client.status)
    print_json(status)
    return EXIT_OK if status["status"] != "FAILED" else EXIT_ERROR


def cmd_result(args: argparse.Namespace) -> int:
    with _client(args) as client:
        _, result = _on_job(client, args, client.result)
        if args.out:
            result["saved"] = download_result(client, result, Path(args.out))
    print_json(result)
    return EXIT_OK if result["status"] != "FAILED" else EXIT_ERROR


def cmd_cancel(args: argparse.Namespace) -> int:
    with _client(args) as client:
        _, status = _on_job(client, args, client.cancel)
    print_json(status)
    return EXIT_OK


def cmd_delete(args: argparse.Namespace) -> int:
    with _client(args) as client:
        kind, _ = _on_job(client, args, client.delete)
    print(f"{kind} {safe(args.job_id)} deleted", file=sys.stderr)
    return EXIT_OK


def cmd_events(args: argparse.Namespace) -> int:
    """Print the caller's events as JSON lines until interrupted (or --count events)."""
    with _client(args) as client:
        events = client.events(args.last_event_id)
        try:
            events.open()
        except StreamUnavailable as exc:
            raise CliError(f"cannot open the event stream: {exc}") from exc
        seen = 0
        try:
            for item in events:
                if item is None:
                    continue
                line = {"id": item.id, "event": item.event, "data": item.data}
                print(json.dumps(line), flush=True)
                seen += 1
                if args.count and seen >= args.count:
                    return EXIT_OK
        finally:
            events.close()
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    with _client(args) as client:
        page = client.history(args.kind, limit=args.limit, cursor=args.cursor)
    if args.json:
        print_json(page)
        return EXIT_OK
    for item in page["items"]:
        print(
            f"{item.get('created_at', '')}  {item['job_id']}  {item['status']:<10} "
            f"{safe((item.get('params') or {}).get('prompt', '')[:60])}"
        )
    if page.get("next_cursor"):
        print(f"more: --cursor {page['next_cursor']}", file=sys.stderr)
    return EXIT_OK


def cmd_notifications(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if args.read:
            print_json(client.mark_read(args.read))
            return EXIT_OK
        if args.read_all:
            print_json(client.mark_all_read())
            return EXIT_OK
        if args.unread_count:
            print(client.unread_count())
            return EXIT_OK
        page = client.notifications(limit=args.limit, cursor=args.cursor)
    if args.json:
        print_json(page)
        return EXIT_OK
    print(f"{page.get('unread_count', 0)} unread")
    for n in page["items"]:
        print(format_notification(n))
    if page.get("next_cursor"):
        print(f"more: --cursor {page['next_cursor']}", file=sys.stderr)
    return EXIT_OK
