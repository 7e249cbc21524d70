"""The shared model registry: request defaults within each model's limits, refusals by field,
the built-in tiny models' small defaults (issue 11: README examples finish in seconds)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sorami_shared.events import Kind
from sorami_shared.model_registry import BUILTIN_MODELS, ModelSpec


def test_builtin_defaults_are_small_and_within_limits():
    image = BUILTIN_MODELS["tiny-image"].request_defaults()
    video = BUILTIN_MODELS["tiny-video"].request_defaults()
    assert image == {
        "width": 64,
        "height": 64,
        "num_inference_steps": 4,
        "guidance_scale": 7.5,
        "num_images": 1,
    }
    assert (video["num_frames"], video["fps"], video["num_inference_steps"]) == (8, 8, 2)
    assert "num_images" not in video


def test_defaults_without_values_follow_the_limits():
    spec = ModelSpec(source="x", kind=Kind.VIDEO, max_width=256, max_steps=10, max_frames=12)
    defaults = spec.request_defaults()
    assert (defaults["width"], defaults["height"]) == (256, 512)
    assert (defaults["num_inference_steps"], defaults["num_frames"], defaults["fps"]) == (10, 12, 8)


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("width", 264, "between 8 and 256"),
        ("width", 60, "multiple of 8"),
        ("num_frames", 33, "between 1 and 32"),
        ("fps", 61, "between 1 and 60"),
        ("guidance_scale", float("nan"), "between 0 and 50"),
        ("num_images", 2, "does not apply to video models"),
    ],
)
def test_refusals_name_the_limit(field, value, why):
    assert why in (BUILTIN_MODELS["tiny-video"].refusal(field, value) or "")
    assert BUILTIN_MODELS["tiny-video"].refusal("width", 256) is None


def test_a_default_outside_the_limits_is_refused_at_load():
    with pytest.raises(ValidationError, match="num_inference_steps"):
        ModelSpec(source="x", kind=Kind.IMAGE, defaults={"num_inference_steps": 9}, max_steps=8)
    with pytest.raises(ValidationError, match="do not apply"):
        ModelSpec(source="x", kind=Kind.IMAGE, defaults={"fps": 8})


def test_pipeline_kwargs_are_the_other_defaults():
    spec = ModelSpec(source="x", kind=Kind.IMAGE, defaults={"width": 64, "eta": 0.5})
    assert spec.pipeline_kwargs == {"eta": 0.5}
