"""The event hub's notifications to its streams' feeds (pure logic, no database): a NOTIFY
that carries its events queues them for the user's streams in commit order; one without
events, a reconnect and a stream that fell behind make the stream read its log instead."""

from __future__ import annotations

import json

from sorami_gateway.events.hub import MAX_PENDING, EventHub
from sorami_gateway.events.log import split_payload


def _payload(user: str, *ids: int) -> str:
    events = [[i, "generation.progress", {"progress": i}, "2026-12-04T13:50:01.12+00:00"]
              for i in ids]  # fmt: skip
    return f"{user}\n{json.dumps(events)}"


def test_feeds_get_their_users_events_in_order_and_read_the_log_when_they_must() -> None:
    hub = EventHub("postgresql://unused")
    with hub.log_feed("ann") as ann, hub.log_feed("ann") as ann2, hub.log_feed("bo") as bo:
        assert ann.stale and bo.stale  # a new stream reads its log first
        ann.stale = ann2.stale = bo.stale = False
        hub._on_notify(_payload("ann", 5, 6))
        hub._on_notify(_payload("ann", 9))
        assert [[e.id for e in events] for events in ann.pending] == [[5, 6], [9]]
        assert [[e.id for e in events] for events in ann2.pending] == [[5, 6], [9]]
        event = ann.pending[0][0]
        assert event.type == "generation.progress" and event.data == {"progress": 5}
        assert event.created_at.isoformat() == "2026-12-04T13:50:01.120000+00:00"
        assert ann.wake.is_set() and not bo.wake.is_set() and not bo.pending

        hub._on_notify("ann")  # no events (a create, the ORM path): read the log
        assert ann.stale and not ann.pending
        hub._on_notify(_payload("ann", 12))  # a read is due: it covers this one
        assert ann.stale and not ann.pending

        for i in range(MAX_PENDING):
            hub._on_notify(_payload("bo", i + 1))
        assert not bo.stale and len(bo.pending) == MAX_PENDING
        hub._on_notify(_payload("bo", 100))  # fell behind: read the log
        assert bo.stale and not bo.pending

        bo.stale = False
        hub._on_notify(None)  # the listener (re)connected: anything may have been missed
        assert ann.stale and ann2.stale and bo.stale
        hub._on_notify(_payload("nobody", 1))  # no stream of that user here: nothing
        ann.stale = False
        hub._on_notify("ann\n[[1, 2")  # unreadable: read the log rather than lose anything
        assert ann.stale and ann.wake.is_set()
    assert hub.streams == 0


def test_a_payload_is_a_user_id_then_the_events() -> None:
    assert split_payload("user-1") == ("user-1", None)
    assert split_payload('user 1\n[[1,"t",{},"2026-12-04T00:00:00+00:00"]]') == (
        "user 1",
        '[[1,"t",{},"2026-12-04T00:00:00+00:00"]]',
    )
