"""Signed media URLs (local backend): the right bytes and type; 403 for anything edited."""

from __future__ import annotations

import time
import uuid
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from sorami_gateway.projector import Projector
from sorami_gateway.signing import sign
from sorami_shared.events import Kind
from sorami_shared.messaging import Delivery
from sorami_shared.storage import make_storage

from . import projection_events as ev
from .conftest import SMALL_VIDEO, TEST_MEDIA_SECRET, auth

FIRST = Delivery(attempt=1, max_attempts=6, redelivered=False)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
MP4 = b"\x00\x00\x00\x18ftypisom" + b"\x00" * 32


@pytest.fixture
async def video(client, sessions, settings):
    """A completed video whose mp4 and poster are in local storage; returns its result."""
    response = await client.post("/api/videos/generate", json=SMALL_VIDEO, headers=auth())
    job_id = uuid.UUID(response.json()["job_id"])
    storage = make_storage(settings)
    await storage.put(f"video/{job_id}/0.mp4", MP4, "video/mp4")
    await storage.put(f"video/{job_id}/0.png", PNG, "image/png")
    await storage.put("video/secret/other.mp4", b"someone else's", "video/mp4")
    await Projector(sessions).handle(
        ev.completed(job_id, kind=Kind.VIDEO, files=ev.video_files(job_id)), FIRST
    )
    result = (await client.get(f"/api/videos/{job_id}/result", headers=auth())).json()
    return result["files"][0]


def _relative(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.path}?{parsed.query}"


async def test_valid_urls_serve_the_bytes_with_their_type(client, video):
    mp4 = await client.get(_relative(video["url"]))  # no bearer token needed
    assert mp4.status_code == 200
    assert mp4.headers["content-type"] == "video/mp4" and mp4.content == MP4
    poster = await client.get(_relative(video["poster_url"]))
    assert poster.status_code == 200
    assert poster.headers["content-type"] == "image/png" and poster.content == PNG


async def test_tampered_expired_or_edited_urls_are_403(client, video):
    parsed = urlparse(video["url"])
    query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    key = parsed.path.removeprefix("/media/")

    def url(path_key: str, **q: object) -> str:
        return f"/media/{path_key}?{urlencode({**query, **q})}"

    flipped = query["signature"][:-1] + ("0" if query["signature"][-1] != "0" else "1")
    cases = {
        "tampered signature": url(key, signature=flipped),
        "extended expiry": url(key, expires=int(query["expires"]) + 3600),
        "edited key": url("video/secret/other.mp4"),
        "edited to the poster": url(key.replace(".mp4", ".png")),
        "traversal": url("video/../../etc/passwd"),
        "encoded traversal": f"/media/video/%2e%2e/%2e%2e/etc/passwd?{urlencode(query)}",
    }
    for name, target in cases.items():
        response = await client.get(target)
        assert response.status_code in (403, 404), (name, response.status_code)
        assert response.status_code == 403 or name.endswith("traversal"), name
        assert b"someone else" not in response.content

    expired_at = int(time.time()) - 10
    expired = url(
        key, expires=expired_at, signature=sign(TEST_MEDIA_SECRET.encode(), key, expired_at)
    )
    assert (await client.get(expired)).status_code == 403


@pytest.mark.parametrize(
    "query", ["", "?expires=1", "?signature=abc", "?expires=x&signature=" + "0" * 64]
)
async def test_missing_or_malformed_signature_params_are_4xx(client, query):
    response = await client.get(f"/media/video/x/0.mp4{query}")
    assert response.status_code in (403, 422)


async def test_signed_url_for_a_missing_object_is_404(client):
    expires = int(time.time()) + 60
    key = f"image/{uuid.uuid4()}/0.png"
    signature = sign(TEST_MEDIA_SECRET.encode(), key, expires)
    response = await client.get(f"/media/{key}?expires={expires}&signature={signature}")
    assert response.status_code == 404


async def test_a_video_is_served_by_byte_ranges(client, video) -> None:
    url = _relative(video["url"])
    whole = await client.get(url)
    assert whole.headers["accept-ranges"] == "bytes"
    first = await client.get(url, headers={"Range": "bytes=0-1"})
    assert first.status_code == 206 and first.content == MP4[:2]
    assert first.headers["content-range"] == f"bytes 0-1/{len(MP4)}"
    rest = await client.get(url, headers={"Range": "bytes=2-"})
    assert first.content + rest.content == whole.content == MP4
    beyond = await client.get(url, headers={"Range": f"bytes={len(MP4)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(MP4)}"
