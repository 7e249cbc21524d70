"""The whole system, every service a real process, with S3 storage on a real SeaweedFS server:
three users submit 20 image and video jobs at once; everything completes, every file URL
downloads as a valid PNG/MP4, each user sees exactly their own history and one notification
per job; read / read-all / unread count behave; a job for a model the generator cannot load
ends FAILED with its reason and a failure notification. Also measures the POST→COMPLETED time
of a tiny image job and how much of it is model time."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.e2e.system import (
    PNG_MAGIC,
    System,
    collect_pages,
    is_mp4,
    median,
    wait_terminal,
)
from tests.support.seaweed import run_seaweedfs

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

USERS = ("alice", "bob", "carol")
GHOST_MODEL = "ghost-image"  # in the gateway's registry and allow-list, not the generator's


def job_plan() -> list[tuple[str, str, dict[str, Any]]]:
    """20 jobs (user, kind, body): 13 images (some with 2 outputs) and 7 videos."""
    plan = []
    for i in range(20):
        user = USERS[i % 3]
        if i % 3 == 2:
            body = {
                "prompt": f"video {i}: clouds over hills",
                "width": 64,
                "height": 64,
                "num_inference_steps": 2,
                "num_frames": 8,
                "fps": 8,
                "seed": i,
            }
            plan.append((user, "video", body))
        else:
            body = {
                "prompt": f"image {i}: a cat in a hat",
                "width": 64,
                "height": 64,
                "num_inference_steps": 2,
                "num_images": 2 if i % 4 == 0 else 1,
                "seed": i,
            }
            plan.append((user, "image", body))
    return plan


async def download(http: httpx.AsyncClient, url: str) -> httpx.Response:
    r = await http.get(url)  # no Authorization: the URL itself is the credential
    assert r.status_code == 200, f"{url}: {r.status_code} {r.text[:200]}"
    return r


async def check_files(http: httpx.AsyncClient, kind: str, body: dict, result: dict) -> None:
    files = result["files"]
    expected = body.get("num_images", 1) if kind == "image" else 1
    assert [f["index"] for f in files] == list(range(expected))
    for f in files:
        assert (f["width"], f["height"]) == (body["width"], body["height"])
        r = await download(http, f["url"])
        ctype = r.headers["content-type"].split(";")[0]
        assert len(r.content) == f["bytes"]
        if kind == "image":
            assert ctype == f["mime_type"] == "image/png"
            assert r.content.startswith(PNG_MAGIC)
        else:
            assert ctype == f["mime_type"] == "video/mp4"
            assert is_mp4(r.content)
            assert f["frame_count"] == body["num_frames"] and f["fps"] == body["fps"]
            assert f["duration_s"] == pytest.approx(body["num_frames"] / body["fps"], rel=0.05)
            poster = await download(http, f["poster_url"])
            assert poster.headers["content-type"].split(";")[0] == "image/png"
            assert poster.content.startswith(PNG_MAGIC)


async def notifications_when(
    client: httpx.AsyncClient, count: int, within_s: float = 60
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within_s
    while True:
        items = await collect_pages(client, "/api/notifications", limit=7)
        if len(items) >= count:
            await asyncio.sleep(1.0)  # late duplicates would show up now
            return await collect_pages(client, "/api/notifications", limit=7)
        assert time.monotonic() < deadline, f"{len(items)} notifications, expected {count}"
        await asyncio.sleep(0.3)


async def test_three_users_twenty_jobs_on_s3(make_system, tmp_path) -> None:
    with run_seaweedfs(tmp_path / "seaweed") as s3:
        system: System = await make_system(
            storage_env=s3.storage_env("", "sorami-e2e"),
            image_models=["tiny-image", GHOST_MODEL],
            gateway_models={GHOST_MODEL: {"source": "ghost/none", "kind": "image"}},
            # a generator answers for it (its queue) without knowing it: unknown_model
            generator_overrides={
                "SERVE_MODELS": json.dumps(["tiny-image", "tiny-video", GHOST_MODEL])
            },
        )
        clients = {u: system.client(u) for u in USERS}
        http = httpx.AsyncClient(timeout=30)
        try:
            await scenario(system, clients, http)
        finally:
            await http.aclose()
            for c in clients.values():
                await c.aclose()


async def scenario(
    system: System, clients: dict[str, httpx.AsyncClient], http: httpx.AsyncClient
) -> None:
    plan = job_plan()
    started = time.monotonic()

    # ---- 20 jobs, submitted concurrently by three users --------------------------------
    async def submit(user: str, kind: str, body: dict) -> str:
        r = await clients[user].post(f"/api/{kind}s/generate", json=body)
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "PENDING"
        return r.json()["job_id"]

    ids = await asyncio.gather(*(submit(u, k, b) for u, k, b in plan))
    jobs = [(u, k, b, j) for (u, k, b), j in zip(plan, ids, strict=True)]

    # ---- the failing job: a model the gateway allows but the generator cannot load ------
    r = await clients["bob"].post(
        "/api/images/generate",
        json={
            "prompt": "never",
            "width": 64,
            "height": 64,
            "num_inference_steps": 2,
            "model": GHOST_MODEL,
        },
    )
    assert r.status_code == 202, r.text
    ghost = r.json()["job_id"]

    finals = await asyncio.gather(
        *(wait_terminal(clients[u], k, j, within_s=150, interval=0.5) for u, k, _, j in jobs)
    )
    batch_s = time.monotonic() - started
    not_done = [
        (j, s)
        for (_, _, _, j), (s, _) in zip(jobs, finals, strict=True)
        if s["status"] != "COMPLETED"
    ]
    assert not not_done, system.report(f"not COMPLETED: {not_done}")
    print(f"\n[e2e] 20 concurrent jobs COMPLETED in {batch_s:.1f}s")

    ghost_status, _ = await wait_terminal(clients["bob"], "image", ghost, within_s=60, interval=0.3)
    assert ghost_status["status"] == "FAILED"
    assert ghost_status["error_code"] == "unknown_model"
    assert GHOST_MODEL in ghost_status["error"]

    # ---- every file URL downloads as a valid PNG / MP4 ----------------------------------
    for user, kind, body, job_id in jobs:
        r = await clients[user].get(f"/api/{kind}s/{job_id}/result")
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["status"] == "COMPLETED" and result["progress"] == 100
        assert result["params"]["prompt"] == body["prompt"]
        assert result["files"][0]["url"].startswith(system.storage_env["S3_ENDPOINT_URL"])
        await check_files(http, kind, body, result)

    # ---- isolation: another user's job is 404, like a missing one -----------------------
    alice_job = next(j for u, k, _, j in jobs if u == "alice" and k == "image")
    for path in (f"/api/images/{alice_job}/status", f"/api/images/{alice_job}/result"):
        assert (await clients["bob"].get(path)).status_code == 404

    # ---- history: exactly each user's jobs, newest first, across pages -------------------
    for user in USERS:
        for kind in ("image", "video"):
            items = await collect_pages(clients[user], f"/api/{kind}s/user", limit=3)
            expected = {j for u, k, _, j in jobs if u == user and k == kind}
            if user == "bob" and kind == "image":
                expected.add(ghost)
            got = [i["job_id"] for i in items]
            assert len(got) == len(set(got)) and set(got) == expected, (user, kind)
            stamps = [i["created_at"] for i in items]
            assert stamps == sorted(stamps, reverse=True)

    # ---- notifications: exactly one per job, only one's own ------------------------------
    per_user: dict[str, list[dict[str, Any]]] = {}
    for user in USERS:
        mine = [j for u, _, _, j in jobs if u == user] + ([ghost] if user == "bob" else [])
        items = await notifications_when(clients[user], len(mine))
        counts = Counter(n["data"]["job_id"] for n in items)
        assert set(counts) == set(mine) and set(counts.values()) == {1}, (user, counts)
        stamps = [n["created_at"] for n in items]
        assert stamps == sorted(stamps, reverse=True)
        per_user[user] = items
        r = await clients[user].get("/api/notifications/unread-count")
        assert r.json() == {"unread_count": len(mine)}

    kinds = {j: k for _, k, _, j in jobs}
    for n in per_user["alice"]:
        assert n["data"]["kind"] == kinds[n["data"]["job_id"]]
        assert n["title"] == f"Your {n['data']['kind']} is ready" and n["read_at"] is None
    [ghost_note] = [n for n in per_user["bob"] if n["data"]["job_id"] == ghost]
    assert ghost_note["title"] == "Your image failed"
    assert (
        ghost_note["message"].startswith("Your image failed: ")
        and GHOST_MODEL in (ghost_note["message"])
    )

    # ---- read one / read-all / unread count ---------------------------------------------
    carol = clients["carol"]
    total = len(per_user["carol"])
    first = per_user["carol"][0]
    r = await clients["alice"].post(f"/api/notifications/{first['id']}/read")
    assert r.status_code == 404  # not alice's
    r = await carol.post(f"/api/notifications/{first['id']}/read")
    assert r.status_code == 200 and r.json()["id"] == first["id"] and r.json()["read_at"]
    read_at = r.json()["read_at"]
    assert (await carol.get("/api/notifications/unread-count")).json()["unread_count"] == total - 1
    again = await carol.post(f"/api/notifications/{first['id']}/read")
    assert again.json()["read_at"] == read_at  # idempotent
    assert (await carol.get("/api/notifications/unread-count")).json()["unread_count"] == total - 1
    r = await carol.post("/api/notifications/read-all")
    assert r.json() == {"marked": total - 1, "unread_count": 0}
    page = (await carol.get("/api/notifications")).json()
    assert page["unread_count"] == 0 and all(n["read_at"] for n in page["items"])
    # the others are untouched
    assert (await clients["alice"].get("/api/notifications/unread-count")).json()[
        "unread_count"
    ] == len(per_user["alice"])

    await measure_latency(system, clients["alice"])


async def measure_latency(system: System, client: httpx.AsyncClient, runs: int = 7) -> None:
    """Median POST→COMPLETED of a tiny image job on an idle system, and its model share."""
    body = {
        "prompt": "latency probe",
        "width": 64,
        "height": 64,
        "num_inference_steps": 4,
        "seed": 1,
    }
    samples: list[tuple[str, float]] = []
    for _ in range(runs):
        t0 = time.monotonic()
        r = await client.post("/api/images/generate", json=body)
        assert r.status_code == 202
        job_id = r.json()["job_id"]
        status, seen = await wait_terminal(client, "image", job_id, within_s=30, interval=0.02)
        assert status["status"] == "COMPLETED"
        samples.append((job_id, seen - t0))
    await asyncio.sleep(0.5)
    timings = system.generator_timings()
    totals = [s for _, s in samples]
    models = [timings[j]["model_s"] for j, _ in samples if j in timings]
    gen_totals = [timings[j]["total_s"] for j, _ in samples if j in timings]
    med, med_model = median(totals), median(models)
    print(
        f"[e2e] tiny image job (64x64, 4 steps, S3): median POST→COMPLETED {med * 1000:.0f} ms "
        f"over {runs} runs; generator total {median(gen_totals) * 1000:.0f} ms, model "
        f"{med_model * 1000:.0f} ms = {100 * med_model / med:.0f}% of POST→COMPLETED"
    )
    assert len(models) == runs
    assert med < 10
