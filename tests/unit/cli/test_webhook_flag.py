"""``sorami generate ... --webhook URL [--webhook-events a,b]`` puts them in the request."""

from __future__ import annotations

from sorami_cli.commands import generation_body
from sorami_cli.main import build_parser


def test_webhook_flags_reach_the_request_body():
    args = build_parser().parse_args(
        [
            "generate",
            "image",
            "a fox",
            "--webhook",
            "https://hooks.example.com/s?t=1",
            "--webhook-events",
            "started,completed",
        ]
    )
    body = generation_body(args)
    assert body["webhook_url"] == "https://hooks.example.com/s?t=1"
    assert body["webhook_events"] == ["started", "completed"]
    plain = generation_body(build_parser().parse_args(["generate", "video", "waves"]))
    assert "webhook_url" not in plain and "webhook_events" not in plain
