"""``sorami``: the command line for Sorami's REST API (stdlib argparse + httpx).

    sorami token alice                                   # a development JWT for user alice
    sorami generate image "a red fox" --wait --out out/  # submit, follow, download
    sorami generate video "waves" --num-frames 8 --fps 8 --wait
    sorami status JOB_ID                                 # the job id is enough
    sorami result JOB_ID [--kind video]
    sorami history image
    sorami notifications [--unread-count | --read ID | --read-all]
    sorami cancel JOB_ID                                 # stop a queued or running job
    sorami delete JOB_ID                                 # remove it and its files
    sorami events [--last-event-id N]                    # follow your event stream (JSON lines)

Auth: ``--token T`` (or ``$SORAMI_TOKEN``), else a development token is minted for ``--user``
(default ``demo``; ``$SORAMI_USER``), which works only while the gateway runs in development.
Settings come from the environment; where the variables are not set, ``deploy/local.env``
(what ``make up`` runs with) fills them in.

Exit status: 0 success; 1 the API answered an error or the job FAILED; 2 usage/configuration
errors (e.g. a development token asked for outside development, a --kind the job is not,
``--guidance-scale nan``); 141 the reader of a pipe left early (``| head``), quietly. Text from
the API (prompts, titles, error details) is printed with control characters escaped.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import NoReturn

from . import commands
from .config import DEFAULT_URL
from .errors import CliError
from .terminal import quiet_broken_pipe, safe

KIND_CHOICES = ["image", "video"]


def positive_seconds(value: str) -> int:
    try:
        seconds = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {value!r}") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(
            f"must be a positive number of seconds, not {seconds} (a token born expired is "
            "of no use)"
        )
    return seconds


def finite_number(value: str) -> float:
    """A float that JSON can carry: ``nan``, ``inf`` and ``1e999`` are refused here."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {value!r}")
    return number


def _common_options() -> argparse.ArgumentParser:
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
    return common


def _add_generate(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("generate", parents=[common], help="submit an image or video job")
    p.add_argument("kind", choices=KIND_CHOICES)
    p.add_argument("prompt")
    p.add_argument("--negative-prompt")
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--steps", type=int, help="num_inference_steps")
    p.add_argument("--guidance-scale", type=finite_number)
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
    p.add_argument("--timeout", type=finite_number, default=600.0, help="seconds --wait waits")
    p.set_defaults(func=commands.cmd_generate)


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="sorami",
        description="Sorami's command line (REST API client).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(__doc__ or "").split("\n\n")[1],
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("token", help="print a development JWT for USER (development only)")
    p.add_argument("user_id", metavar="USER")
    p.add_argument("--ttl", type=positive_seconds, default=None, help="lifetime in seconds")
    p.set_defaults(func=commands.cmd_token)

    _add_generate(sub, common)

    p = sub.add_parser("batch", parents=[common], help="submit a JSONL file of jobs at once")
    p.add_argument("file", metavar="FILE.jsonl", help="one generate body per line (at most 1000)")
    p.add_argument("--kind", choices=("image", "video"), default="image")
    p.add_argument("--wait", action="store_true", help="progress bar until every job finished")
    p.add_argument("--timeout", type=finite_number, default=3600.0, help="seconds --wait waits")
    p.set_defaults(func=commands.cmd_batch)

    for name, func, help_ in (
        ("status", commands.cmd_status, "a job's status and progress"),
        ("result", commands.cmd_result, "a job's result with its file URLs"),
        ("cancel", commands.cmd_cancel, "cancel a queued or running job (it ends CANCELLED)"),
        ("delete", commands.cmd_delete, "delete a job from your history and its files"),
    ):
        p = sub.add_parser(name, parents=[common], help=help_)
        p.add_argument("job_id", metavar="ID")
        p.add_argument(
            "--kind", choices=KIND_CHOICES, help="image or video (default: found from the ID)"
        )
        if name == "result":
            p.add_argument("--out", help="also download the files here")
        p.set_defaults(func=func)

    p = sub.add_parser("events", parents=[common], help="follow your event stream (JSON lines)")
    p.add_argument("--last-event-id", type=int, help="resume after this event id")
    p.add_argument("--count", type=int, help="stop after this many events")
    p.set_defaults(func=commands.cmd_events)

    p = sub.add_parser("history", parents=[common], help="your generations, newest first")
    p.add_argument("kind", choices=KIND_CHOICES)
    p.add_argument("--limit", type=int)
    p.add_argument("--cursor")
    p.set_defaults(func=commands.cmd_history)

    p = sub.add_parser("notifications", parents=[common], help="your notifications")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--unread-count", action="store_true")
    action.add_argument("--read", metavar="ID", help="mark one notification read")
    action.add_argument("--read-all", action="store_true", help="mark all read")
    p.add_argument("--limit", type=int)
    p.add_argument("--cursor")
    p.set_defaults(func=commands.cmd_notifications)
    return parser


def fail(message: str, code: int) -> NoReturn:
    print(f"sorami: error: {safe(message)}", file=sys.stderr)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        try:
            code = args.func(args)
        except CliError as exc:
            fail(str(exc), exc.code)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
        return code
    except BrokenPipeError:  # `sorami status ID | head -5`: the reader has what it wanted
        return quiet_broken_pipe()


if __name__ == "__main__":
    sys.exit(main())
