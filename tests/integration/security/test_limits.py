"""Per-user limits on creates: rate limit and unfinished-jobs cap answered 429 with
Retry-After, shared by several gateway replicas on one database; body size and bounds."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from sorami_gateway.workers.projector import Projector
from sorami_shared.messaging import Delivery

from tests.integration.gateway import projection_events as ev
from tests.integration.gateway.conftest import (
    SMALL_IMAGE,
    SMALL_VIDEO,
    auth,
    eventually,
    running_client,
    scalar,
)

FIRST = Delivery(attempt=1, max_attempts=6, redelivered=False)


async def _post(client, user="alice", kind="images", body=None, headers=None):
    body = body or (SMALL_IMAGE if kind == "images" else SMALL_VIDEO)
    return await client.post(
        f"/api/{kind}/generate", json=body, headers={**auth(user), **(headers or {})}
    )


async def test_rate_limit_is_429_with_retry_after_and_per_user(make_settings, engine):
    settings = make_settings(
        rate_limit_generations=3, rate_limit_window_s=60, max_unfinished_jobs=0
    )
    async with running_client(settings) as client:
        # invalid requests are not charged
        bad = await _post(client, body={**SMALL_IMAGE, "width": 63})
        assert bad.status_code == 422
        # images and videos share the user's budget
        codes = [(await _post(client, kind=k)).status_code for k in ("images", "videos", "images")]
        assert codes == [202, 202, 202]
        refused = await _post(client, kind="videos")
        assert refused.status_code == 429, refused.text
        retry_after = int(refused.headers["retry-after"])
        assert 1 <= retry_after <= 60
        assert refused.json()["retry_after_s"] == retry_after
        assert refused.json()["detail"] == "rate limit: 3 generations per 60 s"
        assert refused.json()["limit"] == "rate"
        # another user has their own budget
        assert (await _post(client, user="bob")).status_code == 202
    assert await scalar(engine, "SELECT count(*) FROM generations WHERE user_id='alice'") == 3
    assert await scalar(engine, "SELECT count(*) FROM generation_queue") == 4


async def test_rate_window_slides(make_settings):
    settings = make_settings(rate_limit_generations=2, rate_limit_window_s=2, max_unfinished_jobs=0)
    async with running_client(settings) as client:
        assert [(await _post(client)).status_code for _ in range(2)] == [202, 202]
        refused = await _post(client)
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 2

        async def admitted():
            return (await _post(client)).status_code == 202

        await eventually(admitted, timeout=5, interval=0.25)


async def test_unfinished_jobs_cap_frees_a_slot_when_a_job_finishes(make_settings, sessions):
    settings = make_settings(
        rate_limit_generations=0, max_unfinished_jobs=2, unfinished_jobs_retry_after_s=7
    )
    async with running_client(settings) as client:
        first = uuid.UUID((await _post(client)).json()["job_id"])
        assert (await _post(client, kind="videos")).status_code == 202
        refused = await _post(client)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "7"
        assert refused.json()["detail"] == "too many unfinished generations (at most 2 at once)"
        assert refused.json()["limit"] == "unfinished_jobs"
        assert (await _post(client, user="bob")).status_code == 202

        await Projector(sessions).handle(ev.completed(first), FIRST)
        assert (await _post(client)).status_code == 202
        assert (await _post(client)).status_code == 429


async def test_limits_hold_across_two_replicas(make_settings, engine):
    """Two gateway apps (two engines, two pools) on one database, 16 concurrent creates by one
    user: exactly the limit is admitted, whatever replica answers."""
    rate = make_settings(rate_limit_generations=5, rate_limit_window_s=60, max_unfinished_jobs=0)
    cap = make_settings(rate_limit_generations=0, max_unfinished_jobs=3)
    for settings, user, allowed in ((rate, "rita", 5), (cap, "carl", 3)):
        async with contextlib.AsyncExitStack() as stack:
            replicas = [await stack.enter_async_context(running_client(settings)) for _ in range(2)]
            responses = await asyncio.gather(
                *(_post(replicas[i % 2], user=user) for i in range(16))
            )
        codes = sorted(r.status_code for r in responses)
        assert codes == [202] * allowed + [429] * (16 - allowed), codes
        assert all("retry-after" in r.headers for r in responses if r.status_code == 429)
        count = await scalar(engine, "SELECT count(*) FROM generations WHERE user_id=:u", u=user)
        assert count == allowed


async def test_body_size_bounds_and_model_allow_list(client, settings):
    huge = {**SMALL_IMAGE, "prompt": "x" * (settings.max_request_body_bytes + 1)}
    assert (await _post(client, body=huge)).status_code == 413
    declared = await client.post(
        "/api/images/generate",
        content=b"{}",
        headers={**auth(), "Content-Length": str(10**9), "Content-Type": "application/json"},
    )
    assert declared.status_code in (413, 400)
    limits = settings.image_limits
    cases = {
        "prompt": "x" * (settings.prompt_max_chars + 1),
        "width": limits.max_size + limits.size_multiple,
        "height": limits.min_size - limits.size_multiple,
        "num_inference_steps": limits.max_steps + 1,
        "num_images": limits.max_num_images + 1,
        "model": "not-allowed-model",
    }
    for field, value in cases.items():
        response = await _post(client, body={**SMALL_IMAGE, field: value})
        assert response.status_code == 422, (field, response.text)
        assert ["body", field] in [e["loc"] for e in response.json()["detail"]], field
    too_many_frames = {**SMALL_VIDEO, "num_frames": settings.video_limits.max_num_frames + 1}
    response = await _post(client, kind="videos", body=too_many_frames)
    assert ["body", "num_frames"] in [e["loc"] for e in response.json()["detail"]]
