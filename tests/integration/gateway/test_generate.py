"""POST /api/{kind}/generate: one transaction (generation + queued request), validation,
no broker."""

from __future__ import annotations

import uuid

import pytest

from .conftest import SMALL_IMAGE, auth, scalar


async def test_image_generate_stores_generation_and_outbox_row(client, engine):
    response = await client.post(
        "/api/images/generate",
        json={**SMALL_IMAGE, "seed": 42},
        headers={**auth("alice"), "X-Correlation-ID": "corr-123"},
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "PENDING"
    job_id = uuid.UUID(body["job_id"])
    assert response.headers["x-correlation-id"] == "corr-123"

    row = await scalar(
        engine,
        "SELECT row_to_json(g) FROM generations g WHERE id = :id",
        id=job_id,
    )
    assert row["user_id"] == "alice" and row["kind"] == "image" and row["status"] == "PENDING"
    assert row["correlation_id"] == "corr-123"
    assert row["params"]["seed"] == 42 and row["params"]["width"] == 64
    assert row["params"]["model"] == "tiny-image"

    # queued in the database until the scheduler releases it to the outbox
    assert await scalar(engine, "SELECT count(*) FROM outbox") == 0
    payload = await scalar(engine, "SELECT payload FROM generation_queue")
    assert payload["type"] == "generation.requested"
    assert payload["data"]["job_id"] == str(job_id)
    assert payload["data"]["user_id"] == "alice"
    assert payload["correlationid"] == "corr-123"
    assert payload["data"]["params"]["num_images"] == 1


async def test_video_generate_gets_defaults_and_a_random_seed(client, engine):
    response = await client.post(
        "/api/videos/generate", json={"prompt": "waves"}, headers=auth("bob")
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    params = await scalar(
        engine, "SELECT params FROM generations WHERE id = :id", id=uuid.UUID(job_id)
    )
    assert params["model"] == "tiny-video"
    assert 0 <= params["seed"] <= 2**32 - 1
    assert params["num_frames"] == 8 and params["fps"] == 8  # tiny-video's defaults
    assert params["width"] % 8 == 0 and params["height"] % 8 == 0
    kind = await scalar(engine, "SELECT kind FROM generations WHERE id = :id", id=uuid.UUID(job_id))
    assert kind == "video"


BAD_IMAGE_BODIES = [
    ("missing prompt", {"width": 64}, "prompt"),
    ("empty prompt", {"prompt": ""}, "prompt"),
    ("blank prompt", {"prompt": "   "}, "prompt"),
    ("prompt too long", {"prompt": "x" * 2001}, "prompt"),
    ("negative prompt too long", {"prompt": "x", "negative_prompt": "y" * 2001}, "negative_prompt"),
    ("width not multiple of 8", {"prompt": "x", "width": 65}, "width"),
    ("width too large", {"prompt": "x", "width": 2048}, "width"),
    ("height too small", {"prompt": "x", "height": 0}, "height"),
    ("steps zero", {"prompt": "x", "num_inference_steps": 0}, "num_inference_steps"),
    ("steps too many", {"prompt": "x", "num_inference_steps": 101}, "num_inference_steps"),
    ("num_images too many", {"prompt": "x", "num_images": 5}, "num_images"),
    ("num_images zero", {"prompt": "x", "num_images": 0}, "num_images"),
    ("guidance negative", {"prompt": "x", "guidance_scale": -1}, "guidance_scale"),
    ("guidance too high", {"prompt": "x", "guidance_scale": 31}, "guidance_scale"),
    ("seed negative", {"prompt": "x", "seed": -1}, "seed"),
    ("seed too large", {"prompt": "x", "seed": 2**32}, "seed"),
    ("unknown model", {"prompt": "x", "model": "sdxl-nope"}, "model"),
    ("video model on images", {"prompt": "x", "model": "tiny-video"}, "model"),
    ("extra field", {"prompt": "x", "strength": 0.5}, "strength"),
    ("num_frames on images", {"prompt": "x", "num_frames": 8}, "num_frames"),
    ("width as string", {"prompt": "x", "width": "64"}, "width"),
    ("width as float", {"prompt": "x", "width": 64.5}, "width"),
    ("width as bool", {"prompt": "x", "width": True}, "width"),
    ("prompt as number", {"prompt": 5}, "prompt"),
    ("NUL in prompt", {"prompt": "a\u0000b"}, "prompt"),
    ("NUL in negative prompt", {"prompt": "a", "negative_prompt": "\u0000"}, "negative_prompt"),
    ("prompt null", {"prompt": None}, "prompt"),  # an optional field: null = its default
]

BAD_VIDEO_BODIES = [
    ("image model on videos", {"prompt": "x", "model": "tiny-image"}, "model"),
    ("num_images on videos", {"prompt": "x", "num_images": 2}, "num_images"),
    ("num_frames zero", {"prompt": "x", "num_frames": 0}, "num_frames"),
    ("num_frames too many", {"prompt": "x", "num_frames": 65}, "num_frames"),
    ("fps too high", {"prompt": "x", "fps": 61}, "fps"),
    ("fps as string", {"prompt": "x", "fps": "8"}, "fps"),
]


async def _assert_rejected(client, engine, path, body, field):
    response = await client.post(path, json=body, headers=auth())
    assert response.status_code == 422, response.text
    locations = [tuple(e["loc"]) for e in response.json()["detail"]]
    assert ("body", field) in locations, locations
    assert await scalar(engine, "SELECT count(*) FROM generations") == 0
    assert await scalar(engine, "SELECT count(*) FROM outbox") == 0
    assert await scalar(engine, "SELECT count(*) FROM generation_queue") == 0


@pytest.mark.parametrize(
    ("case", "body", "field"), BAD_IMAGE_BODIES, ids=[c[0] for c in BAD_IMAGE_BODIES]
)
async def test_bad_image_input_is_422_naming_the_field(client, engine, case, body, field):
    await _assert_rejected(client, engine, "/api/images/generate", body, field)


@pytest.mark.parametrize(
    ("case", "body", "field"), BAD_VIDEO_BODIES, ids=[c[0] for c in BAD_VIDEO_BODIES]
)
async def test_bad_video_input_is_422_naming_the_field(client, engine, case, body, field):
    await _assert_rejected(client, engine, "/api/videos/generate", body, field)


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"prompt"', b"{", b"null"], ids=repr)
async def test_unparseable_body_is_422(client, engine, raw):
    response = await client.post(
        "/api/images/generate",
        content=raw,
        headers={**auth(), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][0] == "body"
    assert await scalar(engine, "SELECT count(*) FROM generations") == 0


async def test_unknown_kind_is_422_naming_kind(client):
    response = await client.post("/api/audio/generate", json={"prompt": "x"}, headers=auth())
    assert response.status_code == 422
    assert ["path", "kind"] in [e["loc"] for e in response.json()["detail"]]


async def test_bad_correlation_header_is_replaced(client):
    response = await client.post(
        "/api/images/generate",
        json=SMALL_IMAGE,
        headers={**auth(), "X-Correlation-ID": "bad value\twith spaces"},
    )
    assert response.status_code == 202
    uuid.UUID(response.headers["x-correlation-id"])


async def test_limits_come_from_settings(make_settings):
    from .conftest import running_client

    other = {"source": "some/model", "kind": "image", "defaults": {"width": 64, "height": 64}}
    settings = make_settings(
        image_limits={"max_size": 128, "max_num_images": 2},
        models={"other-image": other},
        image_models=["tiny-image", "other-image"],
    )
    async with running_client(settings) as client:
        ok = await client.post(
            "/api/images/generate", json={"prompt": "x", "model": "other-image"}, headers=auth()
        )
        assert ok.status_code == 202
        too_big = await client.post(
            "/api/images/generate", json={"prompt": "x", "width": 136}, headers=auth()
        )
        assert too_big.status_code == 422
        too_many = await client.post(
            "/api/images/generate", json={"prompt": "x", "num_images": 3}, headers=auth()
        )
        assert too_many.status_code == 422


async def test_openapi_documents_both_bodies(client):
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    body = schema["paths"]["/api/{kind}/generate"]["post"]["requestBody"]
    refs = {r["$ref"] for r in body["content"]["application/json"]["schema"]["anyOf"]}
    assert refs == {
        "#/components/schemas/ImageGenerateRequest",
        "#/components/schemas/VideoGenerateRequest",
    }
    assert (await client.get("/docs")).status_code == 200


async def test_oversized_body_is_413_and_nothing_stored(client, engine):
    body = b'{"prompt": "' + b"x" * (70 * 1024) + b'"}'
    response = await client.post(
        "/api/images/generate",
        content=body,
        headers={**auth(), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert await scalar(engine, "SELECT count(*) FROM generations") == 0
