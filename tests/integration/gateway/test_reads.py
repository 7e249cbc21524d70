"""status / result / history: ownership, kinds, files with URLs, cursor pagination."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlparse

import pytest
from sorami_gateway.workers.projector import Projector
from sorami_shared.events import Kind
from sorami_shared.messaging import Delivery

from . import projection_events as ev
from .conftest import SMALL_IMAGE, SMALL_VIDEO, auth

DELIVERY = Delivery(attempt=1, max_attempts=6, redelivered=False)


async def _create(client, kind="images", user="alice", body=None):
    body = body or (SMALL_IMAGE if kind == "images" else SMALL_VIDEO)
    response = await client.post(f"/api/{kind}/generate", json=body, headers=auth(user))
    assert response.status_code == 202, response.text
    return uuid.UUID(response.json()["job_id"])


async def test_status_of_a_new_generation(client):
    job_id = await _create(client)
    response = await client.get(f"/api/images/{job_id}/status", headers=auth())
    assert response.status_code == 200
    assert response.json() == {
        "job_id": str(job_id),
        "kind": "image",
        "status": "PENDING",
        "progress": 0,
        "error": None,
        "error_code": None,
        "expires_at": None,  # no retention_days, no expires_after: kept
        # not placed yet: the scheduler has not planned the queue since it came
        "queue_position": None,
        "eta_s": None,
        "waiting_for": None,
    }


@pytest.mark.parametrize("endpoint", ["status", "result"])
async def test_other_user_wrong_kind_and_missing_are_the_same_404(client, endpoint):
    job_id = await _create(client, user="alice")
    other_user = await client.get(f"/api/images/{job_id}/{endpoint}", headers=auth("mallory"))
    wrong_kind = await client.get(f"/api/videos/{job_id}/{endpoint}", headers=auth("alice"))
    missing = await client.get(f"/api/images/{uuid.uuid4()}/{endpoint}", headers=auth("alice"))
    assert other_user.status_code == wrong_kind.status_code == missing.status_code == 404
    assert other_user.json() == wrong_kind.json() == missing.json()
    assert str(job_id) not in other_user.text


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g"])
async def test_malformed_id_is_422_naming_it(client, bad_id):
    response = await client.get(f"/api/images/{bad_id}/status", headers=auth())
    assert response.status_code == 422
    assert ["path", "job_id"] in [e["loc"] for e in response.json()["detail"]]


async def test_result_of_a_completed_video_has_urls_and_media_fields(client, sessions):
    job_id = await _create(client, "videos")
    await Projector(sessions).handle(
        ev.completed(job_id, kind=Kind.VIDEO, files=ev.video_files(job_id)), DELIVERY
    )
    response = await client.get(f"/api/videos/{job_id}/result", headers=auth())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "COMPLETED" and body["progress"] == 100
    assert body["completed_at"] is not None and body["params"]["num_frames"] == 8
    [file] = body["files"]
    assert file["mime_type"] == "video/mp4" and file["bytes"] == 2048
    assert (
        file["width"],
        file["height"],
        file["fps"],
        file["frame_count"],
        file["duration_s"],
    ) == (64, 64, 4.0, 8, 2.0)
    url = urlparse(file["url"])
    assert url.path == f"/media/video/{job_id}/0.mp4"
    assert set(parse_qs(url.query)) == {"expires", "signature"}
    assert urlparse(file["poster_url"]).path == f"/media/video/{job_id}/0.png"


async def test_history_is_newest_first_with_a_cursor(client, sessions):
    created = [await _create(client) for _ in range(5)]
    await _create(client, user="bob")  # someone else's
    await _create(client, kind="videos")  # another kind
    await Projector(sessions).handle(ev.completed(created[0]), DELIVERY)

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/images/user", params=params, headers=auth())
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
        seen += [item["job_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [str(j) for j in reversed(created)]
    oldest = (await client.get("/api/images/user", params={"limit": 100}, headers=auth())).json()
    assert oldest["items"][-1]["status"] == "COMPLETED" and len(oldest["items"][-1]["files"]) == 2
    assert oldest["next_cursor"] is None

    bob = (await client.get("/api/images/user", headers=auth("bob"))).json()
    assert len(bob["items"]) == 1
    videos = (await client.get("/api/videos/user", headers=auth())).json()
    assert len(videos["items"]) == 1


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "x"},
        {"cursor": "garbage!"},
        {"cursor": "W10"},
        {"cursor": "x" * 300},
    ],
    ids=repr,
)
async def test_bad_history_query_is_422(client, params):
    response = await client.get("/api/images/user", params=params, headers=auth())
    assert response.status_code == 422, response.text
    field = next(iter(params))
    assert ["query", field] in [e["loc"] for e in response.json()["detail"]]


async def test_health_and_readiness(client, make_settings, amqp_url):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    down = await client.get("/readyz")  # broker on a closed port
    assert down.status_code == 503 and down.json()["broker"] == "unreachable"
    assert down.json()["database"] == "ok"

    from .conftest import running_client

    async with running_client(make_settings(amqp_url=amqp_url)) as ready_client:
        response = await ready_client.get("/readyz")
        assert response.status_code == 200, response.text


async def test_database_down_is_503_not_500(make_settings):
    from tests.support.infra import free_port

    from .conftest import running_client

    settings = make_settings(
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nope"
    )
    async with running_client(settings) as client:
        response = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=auth())
        assert response.status_code == 503, response.text
        assert "Retry-After" in response.headers
        assert (await client.get("/api/images/user", headers=auth())).status_code == 503
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["database"] == "unreachable"
        assert (await client.get("/healthz")).status_code == 200
