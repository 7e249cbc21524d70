"""The CLI's server-sent events parser."""

from __future__ import annotations

from sorami_cli.events import parse_sse


def test_frames_comments_ids_and_multiline_data() -> None:
    lines = [
        "retry: 3000",
        "",
        "event: ready",
        'data: {"last_event_id": 4}',
        "",
        ": heartbeat",
        "id: 5",
        "event: generation.progress",
        'data: {"job_id": "j",',
        'data:  "progress": 40}',
        "",
        "data: not json",
        "",
    ]
    items = list(parse_sse(lines))
    assert (
        items[0].event == "ready" and items[0].data == {"last_event_id": 4} and items[0].id is None
    )
    assert items[1] is None  # the heartbeat
    assert (items[2].id, items[2].event, items[2].data) == (
        5,
        "generation.progress",
        {"job_id": "j", "progress": 40},
    )
    assert items[3].event == "message" and items[3].data == {"raw": "not json"}
