"""Notifications: list (newest first, cursor), unread count, read one, read all; per user."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sorami_gateway.workers.projector import Projector
from sorami_shared.events import Outcome
from sorami_shared.messaging import Delivery

from . import projection_events as ev
from .conftest import auth

FIRST = Delivery(attempt=1, max_attempts=6, redelivered=False)


@pytest.fixture
async def seeded(sessions) -> dict[str, list[str]]:
    """alice: 3 notifications (oldest first in the list below); bob: 1."""
    projector = Projector(sessions)
    base = datetime.now(UTC) - timedelta(minutes=10)
    ids: dict[str, list[str]] = {"alice": [], "bob": []}
    for i, (user, outcome) in enumerate(
        [
            ("alice", Outcome.COMPLETED),
            ("alice", Outcome.FAILED),
            ("bob", Outcome.COMPLETED),
            ("alice", Outcome.COMPLETED),
        ]
    ):
        event = ev.notification(
            uuid.uuid4(), user=user, outcome=outcome, created_at=base + timedelta(seconds=i)
        )
        await projector.handle(event, FIRST)
        ids[user].append(str(event.data.notification_id))
    return ids


async def test_list_newest_first_with_cursor_and_unread_count(client, seeded):
    first = (await client.get("/api/notifications", params={"limit": 2}, headers=auth())).json()
    assert first["unread_count"] == 3
    assert [i["id"] for i in first["items"]] == seeded["alice"][::-1][:2]
    item = first["items"][0]
    assert set(item) == {"id", "type", "title", "message", "data", "created_at", "read_at"}
    assert set(item["data"]) >= {"job_id", "kind"} and item["read_at"] is None
    second = (
        await client.get(
            "/api/notifications",
            params={"limit": 2, "cursor": first["next_cursor"]},
            headers=auth(),
        )
    ).json()
    assert [i["id"] for i in second["items"]] == [seeded["alice"][0]]
    assert second["next_cursor"] is None


async def test_read_one_then_read_all(client, seeded):
    target = seeded["alice"][1]
    response = await client.post(f"/api/notifications/{target}/read", headers=auth())
    assert response.status_code == 200
    read_at = response.json()["read_at"]
    assert read_at is not None
    again = await client.post(f"/api/notifications/{target}/read", headers=auth())
    assert again.json()["read_at"] == read_at  # idempotent: first read time kept
    count = await client.get("/api/notifications/unread-count", headers=auth())
    assert count.json() == {"unread_count": 2}

    marked = await client.post("/api/notifications/read-all", headers=auth())
    assert marked.json() == {"marked": 2, "unread_count": 0}
    assert (await client.post("/api/notifications/read-all", headers=auth())).json() == {
        "marked": 0,
        "unread_count": 0,
    }
    # bob's are untouched
    assert (await client.get("/api/notifications/unread-count", headers=auth("bob"))).json() == {
        "unread_count": 1
    }


async def test_isolation_between_users(client, seeded):
    bob_id = seeded["bob"][0]
    as_alice = await client.post(f"/api/notifications/{bob_id}/read", headers=auth("alice"))
    missing = await client.post(f"/api/notifications/{uuid.uuid4()}/read", headers=auth("alice"))
    assert as_alice.status_code == missing.status_code == 404
    assert as_alice.json() == missing.json()
    listed = (await client.get("/api/notifications", headers=auth("alice"))).json()
    assert bob_id not in {i["id"] for i in listed["items"]}
    bob = (await client.get("/api/notifications", headers=auth("bob"))).json()
    assert [i["id"] for i in bob["items"]] == [bob_id] and bob["unread_count"] == 1
    nobody = (await client.get("/api/notifications", headers=auth("carol"))).json()
    assert nobody == {"items": [], "unread_count": 0, "next_cursor": None}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/notifications"),
        ("GET", "/api/notifications/unread-count"),
        ("POST", "/api/notifications/read-all"),
        ("POST", f"/api/notifications/{uuid.UUID(int=1)}/read"),
    ],
)
async def test_anonymous_is_401(client, method, path):
    assert (await client.request(method, path)).status_code == 401


async def test_malformed_notification_id_and_cursor_are_422(client):
    response = await client.post("/api/notifications/nope/read", headers=auth())
    assert response.status_code == 422
    response = await client.get("/api/notifications", params={"cursor": "%%%"}, headers=auth())
    assert response.status_code == 422
