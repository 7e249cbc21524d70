"""POST /api/batches: up to 1000 jobs in one request at the batch priority, under their own
cap; another user's single job still starts within two generator calls; counts, pages,
cancel, 404 for another user's batch, 422 naming the bad item's field."""

from __future__ import annotations

import time

from sorami_gateway.infra.db import driver_connection
from sorami_gateway.scheduling.release import release_pass

from .conftest import SMALL_IMAGE, auth, eventually, running_client, running_relay, scalar
from .test_scheduler import SlowGenerator, _started

GRID = {
    "kind": "image",
    "grid": {
        "base": {"width": 32, "height": 32, "num_inference_steps": 1},
        "prompts": [f"p{i}" for i in range(500)],
        "seeds": [1, 2],
    },
}


async def test_a_thousand_job_batch_never_delays_another_users_single_job(
    make_settings, amqp_url, engine
):
    settings = make_settings(
        amqp_url=amqp_url,
        max_unfinished_jobs=1,
        scheduler_slots_per_consumer=1,
        scheduler_interactive_reserve=0,
    )
    async with running_client(settings) as client:
        created = await client.post("/api/batches", json=GRID, headers=auth("team"))
        assert created.status_code == 202, created.text
        batch = created.json()
        assert batch["size"] == 1000 and len(batch["job_ids"]) == 1000
        # the interactive cap (1 unfinished) does not count batch jobs: still room for one
        single = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=auth("team"))
        assert single.status_code == 202, single.text
        again = await client.post("/api/batches", json=GRID, headers=auth("team"))
        assert again.status_code == 202  # 2000 unfinished: the batch cap (5000) holds
        async with running_relay(settings):
            async with SlowGenerator(amqp_url, engine, run_s=0.3) as generator:
                await eventually(lambda: _started(generator, 2), timeout=30)
                # the team's own interactive job went before any of its 2000 batch jobs
                assert generator.started[0] == ("team", single.json()["job_id"])
                solo = await client.post(
                    "/api/images/generate", json=SMALL_IMAGE, headers=auth("solo")
                )
                at = len(generator.started)
                await eventually(lambda: _started(generator, at + 2), timeout=30)
                assert ("solo", solo.json()["job_id"]) in generator.started[at : at + 2]

        view = (await client.get(f"/api/batches/{batch['batch_id']}", headers=auth("team"))).json()
        assert sum(view["counts"].values()) == 1000 and view["done"] is False
        assert len(view["jobs"]) == 100 and view["next_cursor"] == "100"
        assert [j["job_id"] for j in view["jobs"]] == batch["job_ids"][:100]  # submission order
        page = await client.get(
            f"/api/batches/{batch['batch_id']}?cursor=990&limit=50", headers=auth("team")
        )
        assert len(page.json()["jobs"]) == 10 and page.json()["next_cursor"] is None

        other = await client.get(f"/api/batches/{batch['batch_id']}", headers=auth("solo"))
        assert other.status_code == 404
        stolen = await client.post(f"/api/batches/{batch['batch_id']}/cancel", headers=auth("solo"))
        assert stolen.status_code == 404

        cancelled = await client.post(
            f"/api/batches/{batch['batch_id']}/cancel", headers=auth("team")
        )
        assert cancelled.status_code == 200, cancelled.text
        body = cancelled.json()
        assert body["done"] is True and set(body["counts"]) <= {"CANCELLED", "COMPLETED"}
        left = await scalar(
            engine,
            "SELECT count(*) FROM generation_queue WHERE batch_id = CAST(:b AS uuid)",
            b=batch["batch_id"],
        )
        assert left == 0


async def test_a_batch_leaves_the_reserved_slots_to_interactive_jobs(make_settings, engine):
    """16 slots, 4 kept for interactive jobs: the batch gets 12 in flight, never more, and an
    interactive job created behind it is released by the next pass."""
    settings = make_settings(rate_limit_generations=0, max_unfinished_jobs=0)

    async def free(models: set[str]) -> dict[str, int]:
        return dict.fromkeys(models, 16)

    def kept(models: set[str]) -> dict[str, int]:
        return dict.fromkeys(models, 4)

    async def one_pass() -> list:
        async with driver_connection(engine) as conn, conn.transaction():
            result = await release_pass(conn, free, now=time.time(), reserved_slots=kept)
        return result.released

    async with running_client(settings) as client:
        created = await client.post("/api/batches", json=GRID, headers=auth("team"))
        assert created.status_code == 202, created.text
        assert len(await one_pass()) == 12
        assert await one_pass() == []  # 4 free, all kept
        solo = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=auth("solo"))
        assert [str(j) for j in await one_pass()] == [solo.json()["job_id"]]
        assert await one_pass() == []  # 3 free, still kept: the batch waits
    released = (
        "SELECT count(*) FROM generations g WHERE batch_id IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM generation_queue q WHERE q.job_id = g.id)"
    )
    assert await scalar(engine, released) == 12
    assert await scalar(engine, "SELECT count(*) FROM generation_queue") == 988


async def test_bad_batches_answer_422_naming_the_field_and_store_nothing(make_settings, engine):
    settings = make_settings(max_unfinished_batch_jobs=3)
    async with running_client(settings) as client:
        bad_item = {"kind": "image", "requests": [SMALL_IMAGE, {**SMALL_IMAGE, "width": 65}]}
        answer = await client.post("/api/batches", json=bad_item, headers=auth())
        assert answer.status_code == 422
        assert ["body", "requests", 1, "width"] in [e["loc"] for e in answer.json()["detail"]]
        bad_base = {"kind": "image", "grid": {"base": {"steps": 2}, "prompts": ["a"]}}
        answer = await client.post("/api/batches", json=bad_base, headers=auth())
        assert answer.status_code == 422
        assert ["body", "grid", "base", "steps"] in [e["loc"] for e in answer.json()["detail"]]
        # a field a single create takes but a batch item cannot: named, never dropped
        own_expiry = {
            "kind": "image",
            "requests": [SMALL_IMAGE, {**SMALL_IMAGE, "expires_after": 60}],
        }
        answer = await client.post("/api/batches", json=own_expiry, headers=auth())
        assert answer.status_code == 422
        (error,) = answer.json()["detail"]
        assert error["loc"] == ["body", "requests", 1, "expires_after"]
        assert "retention" in error["msg"]
        hook = {"kind": "image", "grid": {"base": {"webhook_events": ["completed"]},
                "prompts": ["a"]}}  # fmt: skip
        answer = await client.post("/api/batches", json=hook, headers=auth())
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"] == ["body", "grid", "base", "webhook_events"]
        assert "standing endpoint" in answer.json()["detail"][0]["msg"]
        many = {"kind": "image", "requests": [SMALL_IMAGE] * 1001}
        answer = await client.post("/api/batches", json=many, headers=auth())
        assert answer.status_code == 422 and "requests" in answer.text
        kind = await client.post(
            "/api/batches", json={"kind": "audio", "requests": []}, headers=auth()
        )
        assert kind.status_code == 422 and ["body", "kind"] in [
            e["loc"] for e in kind.json()["detail"]
        ]
        assert await scalar(engine, "SELECT count(*) FROM generations") == 0
        over = {"kind": "image", "requests": [SMALL_IMAGE] * 4}
        capped = await client.post("/api/batches", json=over, headers=auth())
        assert capped.status_code == 429 and capped.json()["limit"] == "batch_jobs"
        assert await scalar(engine, "SELECT count(*) FROM generation_batches") == 0
