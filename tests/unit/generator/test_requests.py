import uuid

import pytest
from sorami_generator.errors import JobFailed
from sorami_generator.requests import plan_call, resolve_model, seed_for
from sorami_generator.settings import BUILTIN_MODELS
from sorami_shared.events import FailureCode, GenerationParams, GenerationRequested, Kind


def req(kind=Kind.IMAGE, **params):
    base = dict(
        prompt="a cat",
        model="tiny-image" if kind == Kind.IMAGE else "tiny-video",
        width=64,
        height=64,
        num_inference_steps=2,
        guidance_scale=5.0,
    )
    base.update(params)
    return GenerationRequested(
        job_id=uuid.uuid4(), user_id="u", kind=kind, params=GenerationParams(**base)
    )


def test_seed_is_the_requested_one_or_derived_from_the_job_id():
    job = uuid.uuid4()
    assert seed_for(job, 42) == 42
    assert seed_for(job, None) == seed_for(job, None)
    assert seed_for(job, None) != seed_for(uuid.uuid4(), None)
    assert 0 <= seed_for(job, None) < 2**32


def test_unknown_model_is_refused_naming_the_available_ones():
    with pytest.raises(JobFailed) as err:
        resolve_model(BUILTIN_MODELS, "sdxl-nope")
    assert err.value.code == FailureCode.UNKNOWN_MODEL
    assert "sdxl-nope" in err.value.reason and "tiny-image" in err.value.reason


def test_image_call_carries_the_diffusers_kwargs():
    r = req(num_images=3, negative_prompt="blurry", seed=9)
    call = plan_call(r, BUILTIN_MODELS["tiny-image"])
    assert call.seed == 9 and call.outputs == 3 and call.kind == Kind.IMAGE
    assert call.kwargs == {
        "prompt": "a cat",
        "negative_prompt": "blurry",
        "width": 64,
        "height": 64,
        "num_inference_steps": 2,
        "guidance_scale": 5.0,
        "num_images_per_prompt": 3,
    }


def test_video_defaults_come_from_the_model_entry():
    call = plan_call(req(Kind.VIDEO), BUILTIN_MODELS["tiny-video"])
    assert call.num_frames == 8 and call.fps == 8 and call.kwargs["num_frames"] == 8


@pytest.mark.parametrize(
    ("kind", "params", "words"),
    [
        (Kind.IMAGE, {"width": 63}, "multiple of 8"),
        (Kind.IMAGE, {"height": 1024}, "height must be between"),
        (Kind.IMAGE, {"num_inference_steps": 0}, "num_inference_steps"),
        (Kind.IMAGE, {"guidance_scale": -1}, "guidance_scale"),
        (Kind.IMAGE, {"num_images": 0}, "num_images"),
        (Kind.IMAGE, {"fps": 8}, "apply to videos"),
        (Kind.IMAGE, {"prompt": "   "}, "prompt"),
        (Kind.IMAGE, {"model": "tiny-video"}, "makes videos, not images"),
        (Kind.VIDEO, {"num_frames": 33}, "num_frames"),
        (Kind.VIDEO, {"fps": 0}, "fps"),
    ],
)
def test_parameters_the_model_cannot_take_are_refused_with_a_reason(kind, params, words):
    r = req(kind, **params)
    with pytest.raises(JobFailed) as err:
        plan_call(r, BUILTIN_MODELS[r.params.model])
    assert err.value.code == FailureCode.INVALID_PARAMETERS
    assert words in err.value.reason


def test_kwargs_the_pipeline_does_not_accept_are_refused():
    accepted = {"prompt", "width", "height", "num_inference_steps", "guidance_scale"}
    with pytest.raises(JobFailed, match="one image per request"):
        plan_call(req(num_images=2), BUILTIN_MODELS["tiny-image"], accepted)
    with pytest.raises(JobFailed, match="does not take negative_prompt"):
        plan_call(req(negative_prompt="x"), BUILTIN_MODELS["tiny-image"], accepted)
    call = plan_call(req(), BUILTIN_MODELS["tiny-image"], accepted)
    assert "num_images_per_prompt" not in call.kwargs
