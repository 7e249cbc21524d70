"""``null`` for an optional field of ``POST /api/{kind}/generate`` means "use the default", as
the OpenAPI document says (each optional field is nullable with default null): the stored job
gets exactly what a body without the field gets. A required field stays required."""

from __future__ import annotations

import json

import pytest
from sorami_shared.model_registry import BUILTIN_MODELS

from .conftest import auth, scalar

OPTIONAL = {
    "images": [
        "model",
        "negative_prompt",
        "width",
        "height",
        "num_inference_steps",
        "guidance_scale",
        "seed",
        "num_images",
        "webhook_url",
        "webhook_events",
    ],
    "videos": [
        "model",
        "negative_prompt",
        "width",
        "height",
        "num_inference_steps",
        "guidance_scale",
        "seed",
        "num_frames",
        "fps",
        "webhook_url",
        "webhook_events",
    ],
}


async def _params(engine, job_id: str) -> dict:
    raw = await scalar(engine, "SELECT params FROM generations WHERE id = :id", id=job_id)
    return raw if isinstance(raw, dict) else json.loads(raw)


@pytest.mark.parametrize("kind", ["images", "videos"])
async def test_null_optional_fields_get_the_models_defaults(client, engine, kind) -> None:
    body = {"prompt": "x", **dict.fromkeys(OPTIONAL[kind])}
    response = await client.post(f"/api/{kind}/generate", json=body, headers=auth())
    assert response.status_code == 202, response.text
    params = await _params(engine, response.json()["job_id"])
    model = "tiny-video" if kind == "videos" else "tiny-image"
    assert params["model"] == model
    for field, value in BUILTIN_MODELS[model].request_defaults().items():
        assert params[field] == value, field
    assert isinstance(params["seed"], int)  # the gateway picked one


@pytest.mark.parametrize("kind", ["images", "videos"])
async def test_null_beside_given_values_keeps_the_given_ones(client, engine, kind) -> None:
    body = {"prompt": "x", "width": 128, "height": None, "guidance_scale": None, "seed": 7}
    response = await client.post(f"/api/{kind}/generate", json=body, headers=auth())
    assert response.status_code == 202, response.text
    params = await _params(engine, response.json()["job_id"])
    defaults = BUILTIN_MODELS["tiny-video" if kind == "videos" else "tiny-image"].request_defaults()
    assert (params["width"], params["seed"]) == (128, 7)
    assert (params["height"], params["guidance_scale"]) == (
        defaults["height"],
        defaults["guidance_scale"],
    )


async def test_null_prompt_is_still_422_on_prompt(client) -> None:
    response = await client.post("/api/images/generate", json={"prompt": None}, headers=auth())
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "prompt"]]


async def test_the_document_says_null_is_accepted(client) -> None:
    document = (await client.get("/openapi.json")).json()
    for name, fields in (
        ("ImageGenerateRequest", OPTIONAL["images"]),
        ("VideoGenerateRequest", OPTIONAL["videos"]),
    ):
        schema = document["components"]["schemas"][name]
        for field in fields:
            prop = schema["properties"][field]
            assert {"type": "null"} in prop.get("anyOf", []), (name, field, prop)
        assert schema["required"] == ["prompt"]
