"""How each family turns a request into its pipeline call (pure logic, no torch)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sorami_generator.batching import call_key
from sorami_generator.errors import JobFailed
from sorami_generator.families import JobPrompt, ModelMismatch, check_loaded, family_for
from sorami_generator.requests import plan_call
from sorami_shared.events import GenerationParams, GenerationRequested, Kind
from sorami_shared.model_registry import ModelSpec

FLUX_CALL = {"prompt", "negative_prompt", "true_cfg_scale", "guidance_scale", "width", "height",
             "num_inference_steps", "num_images_per_prompt", "max_sequence_length"}  # fmt: skip


def spec(pipeline: str, kind: str = "image", **entry: Any) -> ModelSpec:
    return ModelSpec.model_validate({"source": "o/m", "kind": kind, "pipeline": pipeline, **entry})


def plan(s: ModelSpec, accepted: set[str] | None = None, **params: Any):
    base: dict[str, Any] = {"prompt": "a fox", "model": "m", "width": 64, "height": 64}
    base.update(num_inference_steps=2, guidance_scale=5.0)
    base.update(params)
    request = GenerationRequested(
        job_id=uuid.uuid4(), user_id="u", kind=s.kind, params=GenerationParams(**base)
    )
    return plan_call(request, s, accepted)


def test_flux_negative_prompts_switch_true_cfg_on_and_are_never_dropped() -> None:
    flux = spec("FluxPipeline")
    plain, negative = plan(flux, FLUX_CALL), plan(flux, FLUX_CALL, negative_prompt="blurry")
    assert plain.kwargs["true_cfg_scale"] == 1.0 and "negative_prompt" not in plain.kwargs
    assert negative.kwargs["true_cfg_scale"] == 4.0  # the family's scale (entry may set it)
    assert negative.kwargs["negative_prompt"] == "blurry"
    assert call_key(plain) != call_key(negative)
    assert (
        plan(spec("FluxPipeline", true_cfg_scale=2.5), FLUX_CALL, negative_prompt="x").kwargs[
            "true_cfg_scale"
        ]
        == 2.5
    )


def test_qwen_guidance_is_the_true_cfg_scale() -> None:
    qwen = spec("QwenImagePipeline")
    call = plan(qwen, FLUX_CALL, guidance_scale=5.0)
    assert call.kwargs["true_cfg_scale"] == 5.0 and "guidance_scale" not in call.kwargs
    assert call.kwargs["negative_prompt"] == " "  # true CFG runs only with a negative
    own = plan(qwen, FLUX_CALL, guidance_scale=5.0, negative_prompt="blurry")
    assert own.kwargs["negative_prompt"] == "blurry" and call_key(own) == call_key(call)
    one_pass = plan(qwen, FLUX_CALL, guidance_scale=1.0)
    assert one_pass.kwargs["true_cfg_scale"] == 1.0 and "negative_prompt" not in one_pass.kwargs


def test_sana_renders_at_the_size_asked_and_ltx_takes_the_fps() -> None:
    assert plan(spec("SanaPipeline")).kwargs["use_resolution_binning"] is False
    ltx = plan(spec("LTXPipeline", "video"), width=64, height=64, num_frames=9, fps=24)
    assert ltx.kwargs["frame_rate"] == 24


def test_the_generator_refuses_what_the_family_cannot_take() -> None:
    with pytest.raises(JobFailed, match="8k\\+1"):
        plan(spec("LTXPipeline", "video"), num_frames=8, fps=8)
    with pytest.raises(JobFailed, match="multiple of 16"):
        plan(spec("FluxPipeline"), width=72)
    with pytest.raises(JobFailed, match="guidance_scale > 1"):
        plan(spec("StableDiffusionXLPipeline"), guidance_scale=0.0, negative_prompt="x")


def test_negatives_are_per_job_and_never_filled_for_others() -> None:
    family = family_for(spec("StableDiffusionXLPipeline"))
    plain = family.batch_kwargs([JobPrompt("a", None, 2), JobPrompt("b", None, 1)])
    assert plain == {"prompt": ["a", "a", "b"]}  # no negative: not "" (SDXL: zeros != "")
    negative = family.batch_kwargs([JobPrompt("a", "x", 1), JobPrompt("b", "y", 1)], pad_to=3)
    assert negative == {"prompt": ["a", "b", ""], "negative_prompt": ["x", "y", ""]}
    with pytest.raises(ValueError, match="cannot share a call"):  # the batching key keeps apart
        family.batch_kwargs([JobPrompt("a", "x", 1), JobPrompt("b", None, 1)])


class FluxPipeline:  # a stand-in: only its class name and config are read
    def __init__(self, guidance_embeds: bool) -> None:
        self.transformer = type(
            "T", (), {"config": type("C", (), {"guidance_embeds": guidance_embeds})}
        )()


def test_a_loaded_pipeline_that_contradicts_its_entry_is_refused() -> None:
    check_loaded(spec("FluxPipeline"), FluxPipeline(guidance_embeds=True))
    with pytest.raises(ModelMismatch, match="set guidance: none"):
        check_loaded(spec("FluxPipeline"), FluxPipeline(guidance_embeds=False))
    with pytest.raises(ModelMismatch, match="family 'flux'"):
        check_loaded(ModelSpec(source="o/m", kind=Kind.IMAGE), FluxPipeline(True))
    with pytest.raises(ModelMismatch, match="does not serve"):
        check_loaded(spec("StableDiffusionXLPipeline"), FluxPipeline(True))
