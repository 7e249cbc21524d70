"""``sorami``: the command line for Sorami's REST API (stdlib argparse + httpx).

    sorami token alice                                   # a development JWT for user alice
    sorami generate image "a red fox" --wait --out out/  # submit, follow, download
    sorami generate video "waves" --num-frames 8 --fps 8 --wait
    sorami status JOB_ID --kind image
    sorami result JOB_ID --kind video
    sorami history image
    sorami notifications [--unread-count | --read ID | --read-all]
    sorami cancel JOB_ID [--kind image]                  # stop a queued or running job
    sorami delete JOB_ID [--kind image]                  # remove it and its files
    sorami events [--last-event-id N]                    # follow your event stream (JSON lines)

Auth: ``--token T`` (or ``$SORAMI_TOKEN``), else a development token is minted for ``--user``
(default ``demo``; ``$SORAMI_USER``) with the gateway's own settings, which works only while the
gateway runs in development. Settings come from the environment; where the variables are not
set, ``deploy/local.env`` (what ``make up`` runs with) fills them in.

Exit status: 0 success; 1 the API answered an error or the job FAILED; 2 usage/configuration
errors (e.g. a development token asked for outside development).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urljoin, urlsplit

import httpx

from .cli_events import TERMINAL_EVENTS, EventStream, StreamUnavailable

DEFAULT_URL = "http://127.0.0.1:8000"
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}
EXIT_ERROR = 1
EXIT_USAGE = 2


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


# ------------------------------------------------------------------------------------------
# settings and tokens


def _repo_env_file() -> Path | None:
    explicit = os.environ.get("SORAMI_ENV_FILE")
    if explicit:
        return Path(explicit)
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        candidate = base / "deploy" / "local.env"
        if candidate.is_file():
            return candidate
    return None


def load_local_env(prefix: str = "SORAMI_GATEWAY_") -> None:
    """Fill unset ``SORAMI_GATEWAY_*`` variables from deploy/local.env (never overrides)."""
    path = _repo_env_file()
    if path is None or not path.is_file():
        return
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        key, value = key.strip(), value.strip().strip("'\"")
        if key.startswith(prefix):
            os.environ.setdefault(key, value)


def development_token(user_id: str, ttl_s: int | None = None) -> str:
    """What ``sorami token USER`` prints (the demo uses the same function)."""
    from pydantic import ValidationError

    from .auth import DevelopmentTokensRefused, issue_development_token
    from .settings import GatewaySettings

    load_local_env()
    environment = os.environ.get("SORAMI_GATEWAY_ENVIRONMENT", "development").lower()
    if environment != "development":
        raise CliError(
            f"development tokens are refused outside development: SORAMI_GATEWAY_ENVIRONMENT "
            f"is {environment!r}. Use a token from your identity provider "
            "(--token or $SORAMI_TOKEN).",
            EXIT_USAGE,
        )
    try:
        settings = GatewaySettings()
    except ValidationError as exc:
        reasons = "; ".join(e["msg"] for e in exc.errors())
        raise CliError(f"gateway settings are invalid: {reasons}", EXIT_USAGE) from exc
    try:
        if ttl_s is None:
            return issue_development_token(user_id, settings)
        return issue_development_token(user_id, settings, ttl_s=ttl_s)
    except DevelopmentTokensRefused as exc:
        raise CliError(
            f"{exc}: SORAMI_GATEWAY_ENVIRONMENT is {settings.environment.value!r}. "
            "Development tokens exist only for local development; use a token from your "
            "identity provider (--token or $SORAMI_TOKEN).",
            EXIT_USAGE,
        ) from exc
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc


# ------------------------------------------------------------------------------------------
# HTTP


def describe_error(response: httpx.Response) -> str:
    """A readable one-liner from an error response (FastAPI's ``detail`` or anything else)."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:500] or response.reason_phrase
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item.get('msg', item)}" if loc else str(item.get("msg")))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    if isinstance(detail, dict):
        msg = detail.get("message") or detail.get("error") or json.dumps(detail)
        return str(msg)
    return str(detail)


@dataclass
class Client:
    base_url: str
    token: str
    timeout: float = 30.0

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=self.timeout,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CliError(
                f"cannot reach the gateway at {self.base_url} ({exc.__class__.__name__}: {exc}); "
                "is it running? (`make up`)"
            ) from exc
        if response.status_code >= 400:
            raise CliError(
                f"HTTP {response.status_code} from {method} {path}: {describe_error(response)}"
            )
        return response.json() if response.content else None

    # the API, one method per endpoint
    def generate(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"/api/{plural(kind)}/generate", json=body)

    def status(self, kind: str, job_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/{plural(kind)}/{job_id}/status")

    def result(self, kind: str, job_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/{plural(kind)}/{job_id}/result")

    def history(self, kind: str, limit: int | None = None, cursor: str | None = None) -> Any:
        params = {k: v for k, v in {"limit": limit, "cursor": cursor}.items() if v is not None}
        return self.request("GET", f"/api/{plural(kind)}/user", params=params)

    def notifications(self, limit: int | None = None, cursor: str | None = None) -> Any:
        params = {k: v for k, v in {"limit": limit, "cursor": cursor}.items() if v is not None}
        return self.request("GET", "/api/notifications", params=params)

    def unread_count(self) -> int:
        return self.request("GET", "/api/notifications/unread-count")["unread_count"]

    def mark_read(self, notification_id: str) -> dict[str, Any]:
        return self.request("POST", f"/api/notifications/{notification_id}/read")

    def mark_all_read(self) -> dict[str, Any]:
        return self.request("POST", "/api/notifications/read-all")

    def cancel(self, kind: str, job_id: str) -> dict[str, Any]:
        return self.request("POST", f"/api/{plural(kind)}/{job_id}/cancel")

    def delete(self, kind: str, job_id: str) -> None:
        self.request("DELETE", f"/api/{plural(kind)}/{job_id}")

    def events(self, last_event_id: int | None = None) -> EventStream:
        """The caller's event stream (not yet open)."""
        return EventStream(self._http, last_event_id=last_event_id)

    def absolute(self, url: str) -> str:
        return url if urlsplit(url).scheme else urljoin(self.base_url + "/", url.lstrip("/"))

    def download(self, url: str, dest: Path) -> tuple[Path, str]:
        """GET ``url`` (no auth header: file URLs carry their own signature) into ``dest``."""
        url = self.absolute(url)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with httpx.stream("GET", url, timeout=self.timeout, follow_redirects=True) as r:
                if r.status_code >= 400:
                    r.read()
                    raise CliError(f"HTTP {r.status_code} downloading {url}: {describe_error(r)}")
                with dest.open("wb") as f:
                    for chunk in r.iter_bytes():
                        f.write(chunk)
                return dest, r.headers.get("content-type", "")
        except httpx.HTTPError as exc:
            raise CliError(f"cannot download {url}: {exc}") from exc


def plural(kind: str) -> str:
    return kind if kind.endswith("s") else f"{kind}s"


# ------------------------------------------------------------------------------------------
# following a job


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


# ------------------------------------------------------------------------------------------
# commands


def _client(args: argparse.Namespace) -> Client:
    token = args.token or os.environ.get("SORAMI_TOKEN") or development_token(args.user)
    return Client(args.url, token)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def cmd_token(args: argparse.Namespace) -> int:
    print(development_token(args.user_id, args.ttl))
    return 0


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
                _print_json(accepted)
            else:
                print(job_id)
                print(f"follow it with: sorami status {job_id} --kind {args.kind}", file=sys.stderr)
            return 0
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
            _print_json({**result, "saved": saved, "elapsed_s": round(elapsed, 3)})
            return 0
        print(f"{args.kind} {job_id} COMPLETED in {elapsed:.1f}s")
        for item in saved:
            print(f"  file   {item['path']}")
            print(f"         {item['url']}")
            if "poster_path" in item:
                print(f"  poster {item['poster_path']}")
                print(f"         {item['poster_url']}")
    return 0


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


def _with_kind(args: argparse.Namespace, action: Callable[[str], Any]) -> tuple[str, Any]:
    """Run ``action(kind)`` for ``--kind``, or, without it, for image then video (a job id
    belongs to one kind; the other answers 404)."""
    kinds = [args.kind] if args.kind else ["image", "video"]
    for kind in kinds:
        try:
            return kind, action(kind)
        except CliError as exc:
            if kind == kinds[-1] or "HTTP 404" not in str(exc):
                raise
    raise AssertionError("unreachable")


def cmd_cancel(args: argparse.Namespace) -> int:
    with _client(args) as client:
        _, status = _with_kind(args, lambda kind: client.cancel(kind, args.job_id))
    _print_json(status)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    with _client(args) as client:
        kind, _ = _with_kind(args, lambda kind: client.delete(kind, args.job_id))
    print(f"{kind} {args.job_id} deleted", file=sys.stderr)
    return 0


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
                    return 0
        finally:
            events.close()
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        status = client.status(args.kind, args.job_id)
    _print_json(status)
    return 0 if status["status"] != "FAILED" else EXIT_ERROR


def cmd_result(args: argparse.Namespace) -> int:
    with _client(args) as client:
        result = client.result(args.kind, args.job_id)
        if args.out:
            result["saved"] = download_result(client, result, Path(args.out))
    _print_json(result)
    return 0 if result["status"] != "FAILED" else EXIT_ERROR


def cmd_history(args: argparse.Namespace) -> int:
    with _client(args) as client:
        page = client.history(args.kind, limit=args.limit, cursor=args.cursor)
    if args.json:
        _print_json(page)
        return 0
    for item in page["items"]:
        print(
            f"{item.get('created_at', '')}  {item['job_id']}  {item['status']:<10} "
            f"{(item.get('params') or {}).get('prompt', '')[:60]}"
        )
    if page.get("next_cursor"):
        print(f"more: --cursor {page['next_cursor']}", file=sys.stderr)
    return 0


def format_notification(n: dict[str, Any]) -> str:
    mark = " " if n.get("read_at") else "*"
    return f"{mark} {n.get('created_at', '')}  {n['title']}: {n['message']}  ({n['id']})"


def cmd_notifications(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if args.read:
            _print_json(client.mark_read(args.read))
            return 0
        if args.read_all:
            _print_json(client.mark_all_read())
            return 0
        if args.unread_count:
            print(client.unread_count())
            return 0
        page = client.notifications(limit=args.limit, cursor=args.cursor)
    if args.json:
        _print_json(page)
        return 0
    print(f"{page.get('unread_count', 0)} unread")
    for n in page["items"]:
        print(format_notification(n))
    if page.get("next_cursor"):
        print(f"more: --cursor {page['next_cursor']}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=os.environ.get("SORAMI_URL", DEFAULT_URL),
        help=f"gateway base URL (default {DEFAULT_URL}; $SORAMI_URL)",
    )
    who = common.add_mutually_exclusive_group()
    who.add_argument(
        "--user",
        default=os.environ.get("SORAMI_USER", "demo"),
        help="mint a development token for this user (default demo)",
    )
    who.add_argument("--token", default=None, help="bearer token ($SORAMI_TOKEN)")
    common.add_argument("--json", action="store_true", help="machine-readable output")

    parser = argparse.ArgumentParser(
        prog="sorami",
        description="Sorami's command line (REST API client).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n")[1],
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("token", help="print a development JWT for USER (development only)")
    p.add_argument("user_id", metavar="USER")
    p.add_argument("--ttl", type=int, default=None, help="lifetime in seconds")
    p.set_defaults(func=cmd_token)

    p = sub.add_parser("generate", parents=[common], help="submit an image or video job")
    p.add_argument("kind", choices=["image", "video"])
    p.add_argument("prompt")
    p.add_argument("--negative-prompt")
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--steps", type=int, help="num_inference_steps")
    p.add_argument("--guidance-scale", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--model")
    p.add_argument("--num-images", type=int, help="images only")
    p.add_argument("--num-frames", type=int, help="videos only")
    p.add_argument("--fps", type=int, help="videos only")
    p.add_argument("--webhook", metavar="URL", help="POST the job's outcome there, signed")
    p.add_argument(
        "--webhook-events", metavar="E1,E2", help="started,progress,completed,failed,cancelled"
    )
    p.add_argument(
        "--wait",
        action="store_true",
        help="follow the job (progress bar on stderr), then download its files",
    )
    p.add_argument("--out", default=".", help="where --wait saves the files (default .)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds --wait waits")
    p.set_defaults(func=cmd_generate)

    for name, func, help_ in (
        ("status", cmd_status, "a job's status and progress"),
        ("result", cmd_result, "a job's result with its file URLs"),
    ):
        p = sub.add_parser(name, parents=[common], help=help_)
        p.add_argument("job_id", metavar="ID")
        p.add_argument("--kind", choices=["image", "video"], required=True)
        if name == "result":
            p.add_argument("--out", help="also download the files here")
        p.set_defaults(func=func)

    for name, func, help_ in (
        ("cancel", cmd_cancel, "cancel a queued or running job (it ends CANCELLED)"),
        ("delete", cmd_delete, "delete a job from your history and its files from storage"),
    ):
        p = sub.add_parser(name, parents=[common], help=help_)
        p.add_argument("job_id", metavar="ID")
        p.add_argument("--kind", choices=["image", "video"], help="default: try both")
        p.set_defaults(func=func)

    p = sub.add_parser("events", parents=[common], help="follow your event stream (JSON lines)")
    p.add_argument("--last-event-id", type=int, help="resume after this event id")
    p.add_argument("--count", type=int, help="stop after this many events")
    p.set_defaults(func=cmd_events)

    p = sub.add_parser("history", parents=[common], help="your generations, newest first")
    p.add_argument("kind", choices=["image", "video"])
    p.add_argument("--limit", type=int)
    p.add_argument("--cursor")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("notifications", parents=[common], help="your notifications")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--unread-count", action="store_true")
    action.add_argument("--read", metavar="ID", help="mark one notification read")
    action.add_argument("--read-all", action="store_true", help="mark all read")
    p.add_argument("--limit", type=int)
    p.add_argument("--cursor")
    p.set_defaults(func=cmd_notifications)
    return parser


def fail(message: str, code: int) -> NoReturn:
    print(f"sorami: error: {message}", file=sys.stderr)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CliError as exc:
        fail(str(exc), exc.code)
    except KeyboardInterrupt:
        fail("interrupted", 130)


if __name__ == "__main__":
    sys.exit(main())
