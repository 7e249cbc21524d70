"""Request models built from the settings and the model registry: bounds, allow-lists,
strictness, seeds, each model's defaults and limits."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from sorami_gateway.generations.requests import MAX_SEED, build_request_models
from sorami_gateway.settings import GatewaySettings
from sorami_shared.events import Kind

# a registry model that takes everything the operator caps allow
BIG = {"source": "some/big", "kind": "image", "max_width": 2048, "max_height": 2048}


@pytest.fixture(scope="module")
def models():
    settings = GatewaySettings(
        environment="development", models={"big": BIG}, image_models=["tiny-image", "big"]
    )
    return build_request_models(settings)


def _fields(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in exc.errors()}


def test_defaults_fill_the_rest(models):
    image = models[Kind.IMAGE].model_validate_json('{"prompt": "a cat"}')
    params = image.to_params()
    assert params.model == "tiny-image" and params.num_images == 1
    assert params.width == 64 and params.height == 64  # tiny-image's own defaults
    assert params.num_inference_steps == 4 and params.guidance_scale == 7.5
    assert params.num_frames is None and params.fps is None
    assert 0 <= params.seed <= MAX_SEED

    video = models[Kind.VIDEO].model_validate_json('{"prompt": "waves", "seed": 7}').to_params()
    assert video.model == "tiny-video" and video.seed == 7
    assert video.num_frames == 8 and video.fps == 8 and video.width == 64


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
        (Kind.VIDEO, {"prompt": "x", "num_frames": 33}, "num_frames"),  # tiny-video: 32
        (Kind.IMAGE, {"prompt": "x", "width": 512}, "width"),  # tiny-image: 256
        (Kind.IMAGE, {"prompt": "x", "guidance_scale": float("nan")}, "guidance_scale"),
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
        "model": "big",
        "width": 1024,
        "height": 64,
        "num_inference_steps": 100,
        "guidance_scale": 30,
        "seed": MAX_SEED,
        "num_images": 4,
    }
    assert models[Kind.IMAGE].model_validate_json(json.dumps(body)).to_params().seed == MAX_SEED


def test_configured_models_and_limits():
    entry = {
        "source": "some/wan",
        "kind": "video",
        "defaults": {"width": 64, "height": 64, "num_inference_steps": 2, "num_frames": 4},
        "max_frames": 8,
    }
    settings = GatewaySettings(
        environment="development",
        models={"wan-tiny": entry, "ltx-tiny": {**entry, "max_frames": 256}},
        video_models=["wan-tiny", "ltx-tiny"],
        video_limits={"max_num_frames": 16},
    )
    model = build_request_models(settings)[Kind.VIDEO]
    params = model.model_validate_json('{"prompt": "x"}').to_params()
    assert (params.model, params.num_frames, params.num_inference_steps) == ("wan-tiny", 4, 2)
    assert model.model_validate_json('{"prompt": "x", "model": "ltx-tiny", "num_frames": 16}')
    for frames in (9, 17):  # the model's limit (8), the operator's cap (16)
        with pytest.raises(ValidationError) as info:
            model.model_validate_json(f'{{"prompt": "x", "num_frames": {frames}}}')
        assert _fields(info.value) == {"num_frames"}
    with pytest.raises(ValidationError):
        model.model_validate_json('{"prompt": "x", "model": "ltx-tiny", "num_frames": 17}')


def test_family_rules_are_refused_on_their_field_before_anything_is_stored():
    from sorami_gateway.openai.params import video_request
    from sorami_gateway.openai.schemas import VideoCreateRequest

    ltx = {"source": "Lightricks/LTX-Video", "kind": "video", "pipeline": "LTXPipeline",
           "defaults": {"width": 64, "height": 64, "num_inference_steps": 2, "fps": 8}}  # fmt: skip
    flux = {"source": "black-forest-labs/FLUX.1-dev", "kind": "image", "pipeline": "FluxPipeline"}
    settings = GatewaySettings(
        environment="development",
        models={"ltx": ltx, "flux": flux},
        image_models=["flux"],
        video_models=["ltx"],
    )
    models = build_request_models(settings)
    video, image = models[Kind.VIDEO], models[Kind.IMAGE]
    assert video.model_validate_json('{"prompt": "x"}').to_params().num_frames == 9  # 8k+1
    with pytest.raises(ValidationError, match=r"8k\+1 for ltx models \(nearest: 1 or 9\)") as e:
        video.model_validate_json('{"prompt": "x", "num_frames": 8}')
    assert _fields(e.value) == {"num_frames"}
    with pytest.raises(ValidationError, match="multiple of 16") as e:
        image.model_validate_json('{"prompt": "x", "width": 72}')
    assert _fields(e.value) == {"width"}
    assert image.model_validate_json(
        '{"prompt": "x", "negative_prompt": "dark", "guidance_scale": 1}'
    )
    with pytest.raises(ValidationError, match="guidance_scale > 1") as e:
        video.model_validate_json('{"prompt": "x", "negative_prompt": "dark", "guidance_scale": 1}')
    assert _fields(e.value) == {"negative_prompt"}
    # /v1: seconds x fps lands on the family's nearest frame count (1 s at 8 fps: 9 frames)
    request = VideoCreateRequest(prompt="waves", seconds="1", size="64x64")
    assert video_request(request, video, settings).to_params().num_frames == 9
