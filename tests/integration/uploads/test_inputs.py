"""Requests that take input images: the event carries each input's key, SHA-256 and size;
references resolve to the caller's own uploads and results only; what a model cannot take,
or a mask of another size, is a 422 naming the field."""

from __future__ import annotations

import hashlib
import uuid

import sqlalchemy as sa
from sorami_gateway.workers.projector import Projector
from sorami_shared.messaging import Delivery
from sorami_shared.storage import make_storage

from tests.integration.gateway import projection_events as ev
from tests.integration.gateway.conftest import SMALL_IMAGE, auth
from tests.support import images

FIRST = Delivery(attempt=1, max_attempts=6, redelivered=False)


async def upload(client, data: bytes, user: str = "alice") -> dict:
    sent = await client.post("/api/uploads", files={"file": ("i", data)}, headers=auth(user))
    assert sent.status_code == 201, sent.text
    return sent.json()


async def requested(engine, job_id: str) -> dict:
    async with engine.connect() as conn:
        payload = (
            await conn.execute(
                # the request waits in the scheduler's queue until released to the outbox
                sa.text(
                    "SELECT payload FROM generation_queue WHERE job_id::text = :j"
                    " UNION ALL SELECT payload FROM outbox WHERE payload->'data'->>'job_id' = :j"
                ),
                {"j": job_id},
            )
        ).scalar_one()
    return payload["data"]["params"]


def refused(response, field: str, words: str) -> None:
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", field] and words in error["msg"], error


async def test_img2img_and_inpainting_requests_carry_their_inputs(client, engine):
    image = await upload(client, images.png(96, 64))
    mask = await upload(client, images.png(96, 64, mode="L", color=255))
    body = {**SMALL_IMAGE, "image": image["upload_id"], "mask": mask["upload_id"]}
    created = await client.post("/api/images/generate", json=body, headers=auth())
    assert created.status_code == 202, created.text
    params = await requested(engine, created.json()["job_id"])
    assert params["strength"] == 0.8  # the default with an image
    assert [
        (i["role"], i["key"], i["sha256"], i["width"], i["height"]) for i in params["inputs"]
    ] == [
        ("image", f"upload/{image['upload_id']}/source.png", image["sha256"], 96, 64),
        ("mask", f"upload/{mask['upload_id']}/source.png", mask["sha256"], 96, 64),
    ]
    plain = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=auth())
    assert "inputs" not in await requested(engine, plain.json()["job_id"])


async def test_refused_inputs_name_their_field(client):
    image = await upload(client, images.png(64, 64))
    small_mask = await upload(client, images.png(32, 32, mode="L", color=255))
    bobs = await upload(client, images.png(64, 64), user="bob")

    async def generate(kind: str = "images", **fields):
        body = {**SMALL_IMAGE, **fields} if kind == "images" else {"prompt": "p", **fields}
        return await client.post(f"/api/{kind}/generate", json=body, headers=auth())

    refused(await generate(image=image["upload_id"], mask=small_mask["upload_id"]), "mask", "32x32")
    refused(await generate(image=bobs["upload_id"]), "image", "no such upload")
    refused(await generate(image=str(uuid.uuid4())), "image", "no such upload")
    refused(await generate(mask=image["upload_id"]), "mask", "needs an image")
    refused(await generate(strength=0.5), "strength", "needs an image")
    refused(await generate(image=image["upload_id"], strength=1.5), "strength", "less than")
    refused(await generate("videos", image=image["upload_id"]), "image", "takes no input image")
    ref = {"generation": str(uuid.uuid4()), "index": 0}
    refused(await generate(image=ref), "image", "no such completed generation")
    await client.delete(f"/api/uploads/{image['upload_id']}", headers=auth())
    refused(await generate(image=image["upload_id"]), "image", "no such upload")


async def test_an_earlier_result_is_an_input_for_its_owner_only(client, sessions, settings, engine):
    created = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=auth())
    job_id = uuid.UUID(created.json()["job_id"])
    files = ev.image_files(job_id, 2)
    pixels = images.png(64, 64)
    for f in files:
        await make_storage(settings).put(f.key, pixels, "image/png")
    await Projector(sessions).handle(ev.completed(job_id, files=files), FIRST)
    ref = {"generation": str(job_id), "index": 1}
    again = await client.post(
        "/api/images/generate", json={**SMALL_IMAGE, "image": ref}, headers=auth()
    )
    assert again.status_code == 202, again.text
    (used,) = (await requested(engine, again.json()["job_id"]))["inputs"]
    assert used["key"] == f"image/{job_id}/1.png"
    assert used["sha256"] == hashlib.sha256(pixels).hexdigest()
    theirs = await client.post(
        "/api/images/generate", json={**SMALL_IMAGE, "image": ref}, headers=auth("bob")
    )
    refused(theirs, "image", "no such completed generation")
