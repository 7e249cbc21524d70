"""POST /api/uploads with real PostgreSQL and local storage: what is stored, what is refused
(each refusal a 4xx naming the field), the per-user quota, list/get/delete, and the janitor
removing expired uploads' files."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import httpx
from sorami_gateway.uploads.expiry import remove_expired
from sorami_shared.storage import make_storage

from tests.integration.gateway.conftest import auth, running_client, scalar
from tests.support import images


async def execute(engine, sql: str) -> None:
    from sqlalchemy import text

    async with engine.begin() as conn:
        await conn.execute(text(sql))


async def send(client: httpx.AsyncClient, data: bytes, user: str = "alice", name="x.png"):
    return await client.post(
        "/api/uploads", files={"file": (name, data, "application/octet-stream")}, headers=auth(user)
    )


def refused_on_file(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "file"]
    assert words in error["msg"], error


async def test_an_image_is_stored_with_its_size_format_and_hash(client, settings):
    data = images.png(64, 48)
    response = await send(client, data, name="a.gif")  # the name says nothing
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["format"], body["width"], body["height"]) == ("png", 64, 48)
    assert body["sha256"] == hashlib.sha256(data).hexdigest() and body["bytes"] == len(data)
    assert body["status"] == "ready" and body["mime_type"] == "image/png"
    stored = await make_storage(settings).get(f"upload/{body['upload_id']}/source.png")
    assert stored == data  # alpha and all: the file as sent
    served = await client.get(body["url"])
    assert served.status_code == 200 and served.content == data


async def test_exif_orientation_is_applied(client):
    response = await send(client, images.rotated_jpeg(64, 32), name="photo.jpg")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["format"], body["width"], body["height"]) == ("jpeg", 32, 64)
    stored = (await client.get(body["url"])).content
    assert images.size_of(stored) == (32, 64)
    assert hashlib.sha256(stored).hexdigest() == body["sha256"]


HOSTILE = [  # (label, file, status, words in the message)
    ("header 50000x50000", lambda: images.png_header_claiming(50000, 50000), 422, "pixels"),
    ("10000x10000 solid", lambda: images.solid_png(10000), 422, "10000x10000"),
    ("truncated png", lambda: images.png(64, 64)[:60], 422, "truncated"),
    ("svg", lambda: images.other_format("SVG"), 415, "not a PNG, JPEG or WebP"),
    ("gif", lambda: images.other_format("GIF"), 415, "not a PNG, JPEG or WebP"),
    ("tiff", lambda: images.other_format("TIFF"), 415, "not a PNG, JPEG or WebP"),
    ("empty", lambda: b"", 422, "empty"),
]


async def test_hostile_files_are_refused_naming_the_field(client, engine):
    for label, make, status, words in HOSTILE:
        try:
            refused_on_file(await send(client, make()), status, words)
        except AssertionError as exc:
            raise AssertionError(f"{label}: {exc}") from None
    assert await scalar(engine, "SELECT count(*) FROM uploads") == 0  # nothing reserved


async def test_size_cap_and_body_shape(make_settings):
    settings = make_settings(uploads={"max_bytes": 1000})
    async with running_client(settings) as client:
        refused_on_file(await send(client, images.solid_png(200) + b"\0" * 2000), 413, "1000")
        wrong = await client.post("/api/uploads", json={"file": "x"}, headers=auth())
        refused_on_file(wrong, 415, "multipart/form-data")
        missing = await client.post(
            "/api/uploads", files={"other": ("a.png", images.png())}, headers=auth()
        )
        refused_on_file(missing, 422, "'file'")
        anonymous = await client.post("/api/uploads", files={"file": ("a", b"x")})
        assert anonymous.status_code == 401


async def test_the_quota_counts_live_uploads_and_frees_on_delete(make_settings, engine):
    one = images.png(32, 32)
    settings = make_settings(uploads={"quota_bytes": 2 * len(one) + 10})
    async with running_client(settings) as client:
        first = (await send(client, one)).json()
        assert (await send(client, one)).status_code == 201
        refused_on_file(await send(client, one), 413, "quota")
        assert (await send(client, one, user="bob")).status_code == 201  # per user
        deleted = await client.delete(f"/api/uploads/{first['upload_id']}", headers=auth())
        assert deleted.status_code == 204, deleted.text
        assert (await send(client, one)).status_code == 201
        rows = await scalar(engine, "SELECT count(*) FROM uploads WHERE user_id = 'alice'")
        assert rows == 3  # the deleted one waits for the janitor


async def test_list_get_delete_and_another_users_upload(client, settings, sessions):
    made = [(await send(client, images.png(16 + 8 * i, 16))).json() for i in range(3)]
    page = await client.get("/api/uploads?limit=2", headers=auth())
    assert [i["upload_id"] for i in page.json()["items"]] == [
        m["upload_id"] for m in made[::-1][:2]
    ]
    rest = await client.get(f"/api/uploads?cursor={page.json()['next_cursor']}", headers=auth())
    assert [i["upload_id"] for i in rest.json()["items"]] == [made[0]["upload_id"]]
    one = made[0]["upload_id"]
    assert (await client.get(f"/api/uploads/{one}", headers=auth())).json()["width"] == 16
    for who, path in [("bob", one), ("alice", str(uuid.uuid4()))]:
        assert (await client.get(f"/api/uploads/{path}", headers=auth(who))).status_code == 404
        assert (await client.delete(f"/api/uploads/{path}", headers=auth(who))).status_code == 404
    assert (await client.get("/api/uploads", headers=auth("bob"))).json()["items"] == []
    assert (await client.delete(f"/api/uploads/{one}", headers=auth())).status_code == 204
    assert (await client.get(f"/api/uploads/{one}", headers=auth())).status_code == 404
    storage = make_storage(settings)
    assert await storage.exists(f"upload/{one}/source.png")
    assert await remove_expired(sessions, storage, batch=10) == 1
    assert not await storage.exists(f"upload/{one}/source.png")
    assert await storage.exists(f"upload/{made[1]['upload_id']}/source.png")


async def test_an_unused_upload_expires_after_its_ttl(make_settings, sessions, engine):
    settings = make_settings(uploads={"ttl_s": 1})
    async with running_client(settings) as client:
        made = (await send(client, images.png(8, 8))).json()
        await execute(engine, "UPDATE uploads SET expires_at = now() - interval '1 second'")
        assert (
            await client.get(f"/api/uploads/{made['upload_id']}", headers=auth())
        ).status_code == 404
    storage = make_storage(settings)
    assert await remove_expired(sessions, storage, batch=10) == 1
    assert not await storage.exists(f"upload/{made['upload_id']}/source.png")
    assert await scalar(engine, "SELECT count(*) FROM uploads") == 0


async def test_concurrent_uploads_cannot_overshoot_the_quota(make_settings, engine):
    one = images.png(32, 32)
    settings = make_settings(uploads={"quota_bytes": 2 * len(one)})
    async with running_client(settings) as client:
        answers = await asyncio.gather(*(send(client, one) for _ in range(6)))
    assert sorted(a.status_code for a in answers) == [201, 201, 413, 413, 413, 413]
    used = await scalar(engine, "SELECT sum(bytes) FROM uploads WHERE user_id = 'alice'")
    assert used == 2 * len(one)
