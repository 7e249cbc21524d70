"""Issue 11: the gateway knows each allowed model's defaults and limits (the shared registry),
fills a request's missing fields from the chosen model, refuses (422 naming the field) what
the model cannot take before anything is stored, and lists the models at GET /api/models."""

from __future__ import annotations

import json

import pytest
from sorami_shared.model_registry import BUILTIN_MODELS

from .conftest import auth, running_client, scalar

SD_LIKE = {
    "source": "some/hub-model",
    "kind": "image",
    "defaults": {"width": 512, "height": 512, "num_inference_steps": 2, "guidance_scale": 0.0},
    "max_width": 768,
    "max_height": 768,
    "max_steps": 8,
    "max_guidance_scale": 1.0,
}


async def _params(engine, job_id: str) -> dict:
    raw = await scalar(engine, "SELECT params FROM generations WHERE id = :id", id=job_id)
    return raw if isinstance(raw, dict) else json.loads(raw)


@pytest.mark.parametrize("kind", ["images", "videos"])
async def test_a_prompt_alone_gets_the_models_small_defaults(client, engine, kind) -> None:
    response = await client.post(f"/api/{kind}/generate", json={"prompt": "x"}, headers=auth())
    assert response.status_code == 202, response.text
    params = await _params(engine, response.json()["job_id"])
    spec = BUILTIN_MODELS["tiny-video" if kind == "videos" else "tiny-image"]
    assert params["model"] == ("tiny-video" if kind == "videos" else "tiny-image")
    for field, value in spec.request_defaults().items():
        assert params[field] == value, field
    steps = 2 if kind == "videos" else 4
    assert (params["width"], params["height"], params["num_inference_steps"]) == (64, 64, steps)
    if kind == "videos":  # within what tiny-video takes: the job cannot fail on its params
        assert (params["num_frames"], params["fps"]) == (8, 8)


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("videos", {"width": 512}, "width"),  # tiny-video: at most 256 (the caps allow 1024)
        ("videos", {"num_frames": 64}, "num_frames"),  # tiny-video: at most 32
        ("images", {"height": 512}, "height"),
        ("images", {"guidance_scale": 40.0}, "guidance_scale"),  # the kind cap, 30
    ],
)
async def test_what_the_model_cannot_take_is_422_on_the_field_and_nothing_is_stored(
    client, engine, kind, body, field
) -> None:
    before = await scalar(engine, "SELECT count(*) FROM generations")
    response = await client.post(
        f"/api/{kind}/generate", json={"prompt": "x", **body}, headers=auth()
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", field]
    assert await scalar(engine, "SELECT count(*) FROM generations") == before


async def test_a_registry_model_brings_its_own_defaults_and_limits(make_settings, engine) -> None:
    settings = make_settings(
        models=json.dumps({"sd-like": SD_LIKE}), image_models=["tiny-image", "sd-like"]
    )
    async with running_client(settings) as client:
        ok = await client.post(
            "/api/images/generate", json={"prompt": "x", "model": "sd-like"}, headers=auth()
        )
        assert ok.status_code == 202, ok.text
        params = await _params(engine, ok.json()["job_id"])
        assert (params["width"], params["num_inference_steps"], params["guidance_scale"]) == (
            512,
            2,
            0.0,
        )
        too_many = await client.post(
            "/api/images/generate",
            json={"prompt": "x", "model": "sd-like", "num_inference_steps": 9},
            headers=auth(),
        )
        assert too_many.status_code == 422
        error = too_many.json()["detail"][0]
        assert error["loc"] == ["body", "num_inference_steps"] and "sd-like" in error["msg"]

        listed = await client.get("/api/models", params={"kind": "image"}, headers=auth())
        assert listed.status_code == 200
        items = {i["name"]: i for i in listed.json()["items"]}
        assert list(items) == ["tiny-image", "sd-like"]
        assert items["sd-like"]["default"] is False and items["tiny-image"]["default"] is True
        assert items["sd-like"]["limits"]["max_steps"] == 8
        assert items["sd-like"]["limits"]["max_width"] == 768


async def test_get_api_models_shape(client) -> None:
    assert (await client.get("/api/models")).status_code == 401
    body = (await client.get("/api/models", headers=auth())).json()
    assert [(i["name"], i["kind"], i["default"]) for i in body["items"]] == [
        ("tiny-image", "image", True),
        ("tiny-video", "video", True),
    ]
    image, video = body["items"]
    assert image["defaults"] == {
        "width": 64,
        "height": 64,
        "num_inference_steps": 4,
        "guidance_scale": 7.5,
        "num_images": 1,
    }
    assert image["limits"] == {
        "size_multiple": 8,
        "min_width": 8,
        "max_width": 256,
        "min_height": 8,
        "max_height": 256,
        "max_steps": 50,
        "max_images": 4,  # the model takes 8; the operator's IMAGE_LIMITS cap is 4
        "max_frames": None,
        "max_fps": None,
        "max_guidance_scale": 30.0,
    }
    assert video["defaults"]["num_frames"] == 8 and video["defaults"]["fps"] == 8
    assert video["limits"]["max_frames"] == 32 and video["limits"]["max_images"] is None
    only_videos = await client.get("/api/models?kind=video", headers=auth())
    assert [i["name"] for i in only_videos.json()["items"]] == ["tiny-video"]
    assert (await client.get("/api/models?kind=sound", headers=auth())).status_code == 422


def test_an_allow_listed_name_the_registry_lacks_is_a_startup_error(make_settings) -> None:
    with pytest.raises(ValueError, match="ghost-image"):
        make_settings(image_models=["tiny-image", "ghost-image"])
    with pytest.raises(ValueError, match="tiny-video"):  # a video model in the image list
        make_settings(image_models=["tiny-video"])


BEYOND_BOTH_CAPS = [
    ("/api/images/generate", {"prompt": "x", "width": 1032}, "width"),
    ("/api/videos/generate", {"prompt": "x", "height": 2048}, "height"),
    ("/api/videos/generate", {"prompt": "x", "num_inference_steps": 500}, "num_inference_steps"),
    ("/v1/videos", {"prompt": "x", "size": "1280x720"}, "size"),
    ("/v1/images/generations", {"prompt": "x", "size": "1032x1032"}, "size"),
]


async def test_beyond_both_caps_the_error_names_the_models_limit(client, engine) -> None:
    """A value past the operator's cap (1024 px, 100 steps) AND the model's (256 px, 50
    steps): the answer names the model's limit, the one the client must meet."""
    for path, body, param in BEYOND_BOTH_CAPS:
        response = await client.post(path, json=body, headers=auth())
        assert response.status_code in (400, 422), response.text
        text = response.text
        limit = "50" if param == "num_inference_steps" else "256"
        assert f"and {limit} for model 'tiny-" in text, text
        assert "1024" not in text.replace(body.get("size", "-"), "") and "100" not in text, text
        if path.startswith("/v1"):
            assert response.json()["error"]["param"] == "size"
        else:
            assert response.json()["detail"][0]["loc"] == ["body", param]
    assert await scalar(engine, "SELECT count(*) FROM generations") == 0
