"""Lifetimes (issue 26), real PostgreSQL and storage: the operator's ``retention_days`` and a
request's shorter ``expires_after`` set ``expires_at`` (shown by status and result); past it
the result and its media answer 410 and the janitor removes the files (the row stays);
deleting a job keeps the uploads it used, deleting an upload keeps the results made from it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sorami_gateway.workers.janitor import Janitor
from sorami_gateway.workers.projector import Projector
from sorami_shared.storage import ObjectNotFound, make_storage

from tests.integration.gateway import projection_events as ev
from tests.integration.gateway.conftest import SMALL_IMAGE, auth, running_client
from tests.integration.uploads.test_inputs import FIRST, upload
from tests.support import images

DAY_S = 86400


async def completed_job(client, sessions, settings, **fields) -> tuple[uuid.UUID, list]:
    created = await client.post(
        "/api/images/generate", json={**SMALL_IMAGE, **fields}, headers=auth()
    )
    assert created.status_code == 202, created.text
    job_id = uuid.UUID(created.json()["job_id"])
    files = ev.image_files(job_id, 1)
    for f in files:
        await make_storage(settings).put(f.key, images.png(64, 64), "image/png")
    await Projector(sessions).handle(ev.completed(job_id, files=files), FIRST)
    return job_id, files


async def age(engine, job_id: uuid.UUID, seconds: int) -> None:
    from sqlalchemy import text

    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE generations SET expires_at = now() - make_interval(secs => :s)"
                " WHERE id = :j"
            ),
            {"s": seconds, "j": job_id},
        )


async def test_retention_expires_after_status_result_410_and_janitor(
    make_settings, sessions, engine
):
    settings = make_settings(retention_days=2)
    storage = make_storage(settings)
    async with running_client(settings) as client:
        too_long = await client.post(
            "/api/images/generate", json={**SMALL_IMAGE, "expires_after": 3 * DAY_S}, headers=auth()
        )
        assert too_long.status_code == 422, too_long.text
        (error,) = too_long.json()["detail"]
        assert error["loc"] == ["body", "expires_after"] and "172800" in error["msg"], error

        kept, _ = await completed_job(client, sessions, settings)
        short, files = await completed_job(client, sessions, settings, expires_after=60)
        status = (await client.get(f"/api/images/{kept}/status", headers=auth())).json()
        result = (await client.get(f"/api/images/{short}/result", headers=auth())).json()
        lived = datetime.fromisoformat(status["expires_at"]) - datetime.fromisoformat(
            (await client.get(f"/api/images/{kept}/result", headers=auth())).json()["created_at"]
        )
        assert abs(lived.total_seconds() - 2 * DAY_S) < 5  # the operator's retention
        shorter = datetime.fromisoformat(result["expires_at"]) - datetime.fromisoformat(
            result["created_at"]
        )
        assert abs(shorter.total_seconds() - 60) < 5  # the request's
        media_url = result["files"][0]["url"]
        assert (await client.get(media_url)).status_code == 200

        await age(engine, short, 1)  # its lifetime is over
        gone = await client.get(f"/api/images/{short}/result", headers=auth())
        assert gone.status_code == 410, gone.text
        assert (await client.get(media_url)).status_code == 410
        still = await client.get(f"/api/images/{short}/status", headers=auth())
        assert still.status_code == 200 and still.json()["status"] == "COMPLETED"

        await Janitor(settings, sessions, storage).step()
        try:
            await storage.get(files[0].key)
            raise AssertionError("the expired file is still stored")
        except ObjectNotFound:
            pass
        kept_files = (await client.get(f"/api/images/{kept}/result", headers=auth())).json()
        assert (await client.get(kept_files["files"][0]["url"])).status_code == 200


async def test_deleting_a_job_or_an_upload_keeps_the_other(client, sessions, settings):
    source = await upload(client, images.png(64, 64))
    job_a, _ = await completed_job(client, sessions, settings, image=source["upload_id"])
    assert (await client.delete(f"/api/images/{job_a}", headers=auth())).status_code == 204
    kept = await client.get(f"/api/uploads/{source['upload_id']}", headers=auth())
    assert kept.status_code == 200, kept.text
    assert (await client.get(kept.json()["url"])).status_code == 200  # its file too

    job_b, files = await completed_job(client, sessions, settings, image=source["upload_id"])
    gone = await client.delete(f"/api/uploads/{source['upload_id']}", headers=auth())
    assert gone.status_code == 204
    await Janitor(settings, sessions, make_storage(settings)).step()
    result = await client.get(f"/api/images/{job_b}/result", headers=auth())
    assert result.status_code == 200 and result.json()["status"] == "COMPLETED"
    assert (await client.get(result.json()["files"][0]["url"])).status_code == 200
    assert await make_storage(settings).get(files[0].key)


async def test_upload_lifetimes_follow_the_retention_and_expires_after(make_settings):
    async with running_client(make_settings(retention_days=0.25)) as client:  # 6 h < 24 h TTL

        async def send(**fields):
            return await client.post(
                "/api/uploads",
                files={"file": ("a.png", images.png(32, 32))},
                data=fields,
                headers=auth(),
            )

        def lived(upload: dict) -> float:
            made = datetime.fromisoformat(upload["created_at"])
            return (datetime.fromisoformat(upload["expires_at"]) - made).total_seconds()

        capped = await send()
        assert capped.status_code == 201 and abs(lived(capped.json()) - 6 * 3600) < 5
        short = await send(expires_after="60")
        assert short.status_code == 201 and abs(lived(short.json()) - 60) < 5
        for bad in ("7 * 3600", str(7 * 3600), "0"):
            refused = await send(expires_after=bad)
            assert refused.status_code == 422, refused.text
            assert refused.json()["detail"][0]["loc"] == ["body", "expires_after"]
