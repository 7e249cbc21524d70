"""Request models built from the settings: bounds, allow-lists, strictness, seeds."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from sorami_gateway.generations.requests import MAX_SEED, build_request_models
from sorami_gateway.settings import GatewaySettings
from sorami_shared.events import Kind


@pytest.fixture(scope="module")
def models():
    return build_request_models(GatewaySettings(environment="development"))


def _fields(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in exc.errors()}


def test_defaults_fill_the_rest(models):
    image = models[Kind.IMAGE].model_validate_json('{"prompt": "a cat"}')
    params = image.to_params()
    assert params.model == "tiny-image" and params.num_images == 1
    assert params.width == 512 and params.height == 512
    assert params.num_frames is None and params.fps is None
    assert 0 <= params.seed <= MAX_SEED

    video = models[Kind.VIDEO].model_validate_json('{"prompt": "waves", "seed": 7}').to_params()
    assert video.model == "tiny-video" and video.seed == 7
    assert video.num_frames == 16 and video.fps == 8


def test_random_seeds_differ(models):
    seeds = {
        models[Kind.IMAGE].model_validate_json('{"prompt": "x"}').to_params().seed
        for _ in range(20)
    }
    assert len(seeds) > 1


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        (Kind.IMAGE, {}, "prompt"),
        (Kind.IMAGE, {"prompt": ""}, "prompt"),
        (Kind.IMAGE, {"prompt": "x" * 2001}, "prompt"),
        (Kind.IMAGE, {"prompt": "x", "width": 100}, "width"),
        (Kind.IMAGE, {"prompt": "x", "height": 1032}, "height"),
        (Kind.IMAGE, {"prompt": "x", "num_inference_steps": 0}, "num_inference_steps"),
        (Kind.IMAGE, {"prompt": "x", "num_images": 5}, "num_images"),
        (Kind.IMAGE, {"prompt": "x", "model": "tiny-video"}, "model"),
        (Kind.IMAGE, {"prompt": "x", "fps": 8}, "fps"),
        (Kind.VIDEO, {"prompt": "x", "num_images": 2}, "num_images"),
        (Kind.VIDEO, {"prompt": "x", "num_frames": 65}, "num_frames"),
        (Kind.VIDEO, {"prompt": "x", "fps": 0}, "fps"),
        (Kind.VIDEO, {"prompt": "x", "width": "64"}, "width"),
        (Kind.VIDEO, {"prompt": "x", "seed": 2**32}, "seed"),
    ],
)
def test_invalid_bodies_name_the_field(models, kind, body, field):
    with pytest.raises(ValidationError) as info:
        models[kind].model_validate_json(json.dumps(body))
    assert field in _fields(info.value)


def test_accepts_the_bounds(models):
    body = {
        "prompt": "x" * 2000,
        "width": 1024,
        "height": 64,
        "num_inference_steps": 100,
        "guidance_scale": 30,
        "seed": MAX_SEED,
        "num_images": 4,
    }
    assert models[Kind.IMAGE].model_validate_json(json.dumps(body)).to_params().seed == MAX_SEED


def test_configured_models_and_limits():
    settings = GatewaySettings(
        environment="development",
        video_models=["wan-tiny", "ltx-tiny"],
        video_limits={
            "default_width": 64,
            "default_height": 64,
            "default_steps": 2,
            "default_guidance_scale": 1.0,
            "default_num_frames": 4,
            "max_num_frames": 8,
        },
    )
    model = build_request_models(settings)[Kind.VIDEO]
    assert model.model_validate_json('{"prompt": "x"}').to_params().model == "wan-tiny"
    assert model.model_validate_json('{"prompt": "x", "model": "ltx-tiny"}')
    with pytest.raises(ValidationError):
        model.model_validate_json('{"prompt": "x", "num_frames": 9}')
