"""``Idempotency-Key`` on POST /api/{kind}/generate: same key + same body → same job; a
different body → 409; keys expire; concurrent duplicates (two replicas) create one job."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
import uuid
from pathlib import Path

import pytest
from sorami_gateway.app import create_app

from tests.integration.gateway.conftest import (
    SMALL_IMAGE,
    SMALL_VIDEO,
    auth,
    eventually,
    running_client,
    scalar,
)
from tests.integration.security.live_server import serve

ROOT = Path(__file__).resolve().parents[3]


def _headers(key: str, user: str = "alice") -> dict[str, str]:
    return {**auth(user), "Idempotency-Key": key}


async def test_same_key_same_body_answers_the_same_job(client, engine):
    key = str(uuid.uuid4())
    first = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=_headers(key))
    assert first.status_code == 202 and "idempotent-replayed" not in first.headers
    # the same request spelled differently (key order, whitespace) is the same request
    respelled = json.dumps(dict(reversed(list(SMALL_IMAGE.items()))), indent=2)
    second = await client.post(
        "/api/images/generate",
        content=respelled,
        headers={**_headers(key), "Content-Type": "application/json"},
    )
    assert second.status_code == 202
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert await scalar(engine, "SELECT count(*) FROM generations") == 1
    assert await scalar(engine, "SELECT count(*) FROM generation_queue") == 1


async def test_same_key_different_body_is_409(client, engine):
    key = "retry-me-1"
    assert (
        await client.post("/api/images/generate", json=SMALL_IMAGE, headers=_headers(key))
    ).status_code == 202
    other = await client.post(
        "/api/images/generate", json={**SMALL_IMAGE, "prompt": "another"}, headers=_headers(key)
    )
    assert other.status_code == 409
    assert "Idempotency-Key" in other.json()["detail"]
    # the same key on the other kind is another route: its own key space
    video = await client.post("/api/videos/generate", json=SMALL_VIDEO, headers=_headers(key))
    assert video.status_code == 202
    # and another user's key space is theirs
    bob = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=_headers(key, "bob"))
    assert bob.status_code == 202
    assert await scalar(engine, "SELECT count(DISTINCT id) FROM generations") == 3


async def test_without_a_key_every_post_is_a_new_job(client, engine):
    for _ in range(2):
        response = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=auth())
        assert response.status_code == 202
    assert await scalar(engine, "SELECT count(*) FROM generations") == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "naïve"])
async def test_malformed_key_is_422_naming_the_header(client, key, engine):
    response = await client.post(
        "/api/images/generate",
        json=SMALL_IMAGE,
        headers={**auth(), "Idempotency-Key": key.encode("utf-8")},
    )
    assert response.status_code == 422, response.text
    assert ["header", "Idempotency-Key"] in [e["loc"] for e in response.json()["detail"]]
    assert await scalar(engine, "SELECT count(*) FROM generations") == 0


async def test_keys_expire_after_the_window_and_are_purged(make_settings, engine):
    settings = make_settings(idempotency_key_ttl_s=1)
    async with running_client(settings) as client:
        first = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=_headers("k"))
        assert first.status_code == 202

        async def new_job_after_expiry():
            r = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=_headers("k"))
            assert r.status_code == 202
            return r.json()["job_id"] != first.json()["job_id"]

        await eventually(new_job_after_expiry, timeout=5, interval=0.25)
        # the expired row was replaced, not duplicated; other expired keys get purged
        assert await scalar(engine, "SELECT count(*) FROM idempotency_keys") == 1

        async def purged():
            r = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=_headers("z"))
            assert r.status_code == 202
            return await scalar(engine, "SELECT count(*) FROM idempotency_keys WHERE key='k'") == 0

        await eventually(purged, timeout=5, interval=0.3)


async def test_concurrent_duplicates_on_two_replicas_create_one_job(make_settings, engine):
    settings = make_settings()
    key = str(uuid.uuid4())
    async with contextlib.AsyncExitStack() as stack:
        replicas = [await stack.enter_async_context(running_client(settings)) for _ in range(2)]
        responses = await asyncio.gather(
            *(
                replicas[i % 2].post(
                    "/api/videos/generate", json=SMALL_VIDEO, headers=_headers(key)
                )
                for i in range(12)
            )
        )
    assert [r.status_code for r in responses] == [202] * 12
    assert len({r.json()["job_id"] for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 11
    assert await scalar(engine, "SELECT count(*) FROM generations") == 1
    assert await scalar(engine, "SELECT count(*) FROM generation_queue") == 1


async def test_a_replay_is_answered_even_at_the_limits(make_settings, engine):
    """A client retrying an accepted request must get its job back, not a 429."""
    settings = make_settings(rate_limit_generations=1, max_unfinished_jobs=1)
    async with running_client(settings) as client:
        first = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=_headers("a"))
        again = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=_headers("a"))
        assert first.status_code == again.status_code == 202
        assert again.json() == first.json()
        fresh = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=_headers("b"))
        assert fresh.status_code == 429


@pytest.mark.parametrize("path", ["/api/images/generate", "/v1/images/generations"])
async def test_an_empty_key_is_refused_not_ignored(client, engine, path):
    """An empty Idempotency-Key (a `$(uuidgen)` that printed nothing) would silently turn
    retries into duplicates: 422 naming the header (400 on /v1, OpenAI's code for a bad
    request), and nothing created."""
    openai = path.startswith("/v1")
    body = {"prompt": "a fox", "size": "64x64"} if openai else SMALL_IMAGE
    for empty in ("", "  "):
        answer = await client.post(path, json=body, headers=_headers(empty))
        assert answer.status_code == (400 if openai else 422), (empty, answer.text)
        assert "Idempotency-Key" in answer.text
    assert await scalar(engine, "SELECT count(*) FROM generations") == 0


async def test_the_readme_example_retries_into_the_same_job(settings, engine):
    """README's idempotency example, as written (a shell without uuidgen, as on many
    machines), against a real server: its two POSTs answer one job."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("**Retries and limits.**") :]
    code = re.search(r"```bash\n(.*?)```", section, re.S)
    assert code and "Idempotency-Key" in code.group(1)
    async with serve(create_app(settings)) as base:
        script = code.group(1).replace("http://127.0.0.1:8000", base)
        env = {"PATH": "/usr/bin:/bin:" + str(Path(sys.executable).parent), **auth("alice")}
        env["AUTH"] = f"Authorization: {env.pop('Authorization')}"
        run = await asyncio.create_subprocess_exec(
            "bash", "-c", script, env=env, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await asyncio.wait_for(run.communicate(), 30)
    answers = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert len(answers) == 2 and answers[0]["job_id"] == answers[1]["job_id"], answers
    assert await scalar(engine, "SELECT count(*) FROM generations") == 1
