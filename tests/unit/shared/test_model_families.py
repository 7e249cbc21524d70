"""Family rules (pure data): filled into every registry entry, contradictions refused at
start, and each request field checked against them (the gateway's 422s and the generator's
refusals both come from ``ModelSpec.refusal``)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from sorami_shared.model_families import FAMILIES, FrameRule, family_of_pipeline
from sorami_shared.model_registry import ModelSpec


def spec(pipeline: str, kind: str = "image", **entry: object) -> ModelSpec:
    return ModelSpec.model_validate({"source": "org/model", "kind": kind, "pipeline": pipeline,
                                     **entry})  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "valid", "invalid"),
    [
        ("4k+1", [1, 5, 9, 81], [2, 4, 8, 80]),
        ("8k+1", [1, 9, 161], [8, 16, 160]),
        ("8k,8k+1", [1, 8, 9, 16, 17, 49], [5, 12, 13]),  # CogVideoX: latents decoded in pairs
        ("any", [1, 2, 7], [0]),
    ],
)
def test_frame_rules(rule: str, valid: list[int], invalid: list[int]) -> None:
    r = FrameRule.parse(rule)
    assert str(r) == rule
    assert all(r.fits(n) for n in valid) and not any(r.fits(n) for n in invalid)


def test_nearest_valid_counts_are_below_and_above() -> None:
    assert FrameRule.parse("8k+1").nearest(8) == [1, 9]
    assert FrameRule.parse("4k+1").nearest(8) == [5, 9]
    assert FrameRule.parse("8k,8k+1").nearest(12) == [9, 16]
    assert FrameRule.parse("4k+1").nearest(80, high=80) == [77]
    with pytest.raises(ValueError, match="Nk"):
        FrameRule.parse("4k+1,8k")


def test_every_pipeline_class_belongs_to_one_family() -> None:
    classes = [p for f in FAMILIES.values() for p in f.pipelines]
    assert len(classes) == len(set(classes))
    assert family_of_pipeline("FluxPipeline") == "flux"
    assert family_of_pipeline("SomeCustomPipeline") == "generic"


@pytest.mark.parametrize(
    ("pipeline", "kind", "multiple", "frames", "negative", "guidance"),
    [
        ("StableDiffusionXLPipeline", "image", 8, None, "cfg", "cfg"),
        ("StableDiffusion3Pipeline", "image", 16, None, "cfg", "cfg"),
        ("FluxPipeline", "image", 16, None, "true_cfg", "embedded"),
        ("SanaPipeline", "image", 32, None, "cfg", "cfg"),
        ("QwenImagePipeline", "image", 16, None, "true_cfg", "true_cfg"),
        ("AnimateDiffPipeline", "video", 8, "any", "cfg", "cfg"),
        ("WanPipeline", "video", 16, "4k+1", "cfg", "cfg"),
        ("LTXPipeline", "video", 32, "8k+1", "cfg", "cfg"),
        ("CogVideoXPipeline", "video", 16, "8k,8k+1", "cfg", "cfg"),
        ("HunyuanVideoPipeline", "video", 16, "4k+1", "true_cfg", "embedded"),
    ],
)
def test_an_entry_gets_its_familys_rules(pipeline, kind, multiple, frames, negative, guidance):
    s = spec(pipeline, kind)
    assert (s.size_multiple, s.frame_rule, s.negative_prompt, s.guidance) == (
        multiple, frames, negative, guidance,
    )  # fmt: skip
    assert s.family == family_of_pipeline(pipeline)
    if frames:
        assert s.frames is not None and s.frames.fits(s.request_defaults()["num_frames"])


def test_the_family_is_read_from_a_local_model_index(tmp_path) -> None:
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "LTXPipeline"}))
    s = ModelSpec.model_validate({"source": str(tmp_path), "kind": "video"})
    assert (s.family, s.frame_rule, s.size_multiple) == ("ltx", "8k+1", 32)


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ({"pipeline": "FluxPipeline", "size_multiple": 8}, "size_multiple 8 contradicts"),
        ({"pipeline": "FluxPipeline", "family": "sdxl"}, "family 'sdxl' contradicts"),
        ({"pipeline": "FluxPipeline", "guidance": "cfg"}, "guidance 'cfg' contradicts"),
        ({"pipeline": "SanaPipeline", "negative_prompt": "true_cfg"}, "negative_prompt"),
        ({"pipeline": "WanPipeline", "kind": "image"}, "kind 'image' contradicts"),
        ({"pipeline": "LTXPipeline", "kind": "video", "frame_rule": "4k+1"}, "4k.1 contradicts"),
        ({"family": "nope"}, "not a known family"),
        ({"pipeline": "SanaPipeline", "frame_rule": "4k+1"}, "frame_rule applies to video"),
        (
            {"pipeline": "WanPipeline", "kind": "video", "defaults": {"num_frames": 16}},
            "defaults outside",
        ),
    ],
)
def test_an_entry_that_contradicts_its_family_fails_at_start(entry: dict, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        ModelSpec.model_validate({"source": "org/model", "kind": "image", **entry})


def test_an_entry_may_be_stricter_than_its_family() -> None:
    s = spec("WanPipeline", "video", frame_rule="8k+1", size_multiple=32, negative_prompt="none")
    assert (s.frame_rule, s.size_multiple, s.negative_prompt) == ("8k+1", 32, "none")
    schnell = spec("FluxPipeline", guidance="none")
    assert schnell.request_defaults()["guidance_scale"] == 0.0


def test_requests_are_checked_against_the_family() -> None:
    flux, qwen, sdxl = (
        spec("FluxPipeline"),
        spec("QwenImagePipeline"),
        spec("StableDiffusionXLPipeline"),
    )
    assert "multiple of 16" in (flux.refusal("width", 72) or "")  # was: 64x64 delivered
    assert "multiple of 16" in (spec("CogVideoXPipeline", "video").refusal("width", 40) or "")
    assert "multiple of 32" in (spec("SanaPipeline").refusal("height", 48) or "")
    ltx = spec("LTXPipeline", "video")
    assert "8k+1" in (ltx.refusal("num_frames", 8) or "") and "1 or 9" in ltx.refusal(
        "num_frames", 8
    )
    assert ltx.refusal("num_frames", 9) is None
    # classic CFG: a negative prompt needs guidance > 1; true CFG (FLUX) carries its own scale
    assert "guidance_scale > 1" in (
        sdxl.refusal("negative_prompt", "x", {"guidance_scale": 0}) or ""
    )
    assert sdxl.refusal("negative_prompt", "x", {"guidance_scale": 5}) is None
    assert flux.refusal("negative_prompt", "x", {"guidance_scale": 1}) is None
    assert "guidance_scale > 1" in (
        qwen.refusal("negative_prompt", "x", {"guidance_scale": 1}) or ""
    )
    nothing = spec("FluxPipeline", guidance="none", negative_prompt="none")
    assert "not supported" in (nothing.refusal("negative_prompt", "x", {}) or "")
    assert "not used" in (nothing.refusal("guidance_scale", 3.5) or "")
    assert nothing.refusal("guidance_scale", 0) is None
