"""The image request's file format fields: defaults (model, then deployment), what is stored,
and refusals naming the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sorami_gateway.generations.requests import build_request_models
from sorami_gateway.settings import GatewaySettings
from sorami_shared.events import Kind

WEBP_MODEL = {"source": "builtin:tiny-image", "kind": "image", "output_format": "webp"}
TAESD = "builtin:tiny-taesd"
DRAFTABLE = {"source": "builtin:tiny-image", "kind": "image", "draft_decoder": TAESD}
DRAFT_ONLY = {**DRAFTABLE, "draft_only": True}


@pytest.fixture(scope="module")
def image_model():
    settings = GatewaySettings(
        environment="development",
        models={"webp-model": WEBP_MODEL, "draftable": DRAFTABLE, "draft-only": DRAFT_ONLY},
        image_models=["tiny-image", "webp-model", "draftable", "draft-only"],
        output_format="jpeg",
        output_compression=80,
    )
    return build_request_models(settings)[Kind.IMAGE]


def params(model, body: str):
    return model.model_validate_json(body).to_params()


def test_defaults_come_from_the_model_then_the_deployment(image_model):
    p = params(image_model, '{"prompt": "x"}')
    assert (p.output_format, p.output_compression, p.embed_metadata) == ("jpeg", 80, None)
    p = params(image_model, '{"prompt": "x", "model": "webp-model"}')
    assert (p.output_format, p.output_compression) == ("webp", 80)
    p = params(image_model, '{"prompt": "x", "output_format": "png", "embed_metadata": false}')
    assert (p.output_format, p.output_compression, p.embed_metadata) == ("png", None, False)
    p = params(image_model, '{"prompt": "x", "output_format": "webp", "output_compression": 0}')
    assert (p.output_format, p.output_compression) == ("webp", 0)


@pytest.mark.parametrize(
    "body",
    [
        '{"prompt": "x", "output_format": "gif"}',
        '{"prompt": "x", "output_format": "PNG"}',
        '{"prompt": "x", "output_compression": 101}',
        '{"prompt": "x", "output_compression": -1}',
        '{"prompt": "x", "output_compression": "50"}',
        '{"prompt": "x", "output_format": "png", "output_compression": 50}',
        '{"prompt": "x", "embed_metadata": "no"}',
    ],
)
def test_bad_values_are_refused_on_their_field(image_model, body):
    with pytest.raises(ValidationError) as caught:
        image_model.model_validate_json(body)
    [error] = caught.value.errors()
    field = error["loc"][0]
    assert field in body and field in ("output_format", "output_compression", "embed_metadata")


def test_videos_do_not_take_image_formats():
    video = build_request_models(GatewaySettings(environment="development"))[Kind.VIDEO]
    with pytest.raises(ValidationError) as caught:
        video.model_validate_json('{"prompt": "x", "output_format": "png"}')
    assert caught.value.errors()[0]["loc"] == ("output_format",)


def test_quality_draft_needs_a_draft_decoder_and_draft_only_models_make_drafts(image_model):
    assert params(image_model, '{"prompt": "x"}').quality is None
    assert params(image_model, '{"prompt": "x", "model": "draftable"}').quality is None
    p = params(image_model, '{"prompt": "x", "model": "draftable", "quality": "draft"}')
    assert p.quality == "draft"
    assert params(image_model, '{"prompt": "x", "model": "draft-only"}').quality == "draft"
    for body in (
        '{"prompt": "x", "quality": "draft"}',  # tiny-image has no draft decoder
        '{"prompt": "x", "model": "draft-only", "quality": "full"}',
        '{"prompt": "x", "model": "draftable", "quality": "fast"}',
    ):
        with pytest.raises(ValidationError) as caught:
            image_model.model_validate_json(body)
        assert caught.value.errors()[0]["loc"] == ("quality",), body


def test_a_draft_only_entry_without_a_decoder_is_a_configuration_error():
    with pytest.raises(ValidationError, match="draft_only needs a draft_decoder"):
        GatewaySettings(models={"bad": {**WEBP_MODEL, "draft_only": True}})
