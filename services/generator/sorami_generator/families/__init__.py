"""The model families the generator knows (one module each; rules in
``sorami_shared.model_families``). ``generic`` serves any other pipeline class, by the rules
its model entry states."""

from __future__ import annotations

from sorami_shared.model_families import FAMILIES, GENERIC
from sorami_shared.model_registry import ModelSpec

from .base import PER_JOB_KWARGS, Family, JobPrompt, ModelMismatch
from .classic import SD, SD3, SDXL, AnimateDiff, CogVideoX, Wan
from .flux import Flux
from .hunyuan import HunyuanVideo
from .ltx import LTX
from .qwen import QwenImage
from .sana import Sana

BEHAVIOURS: dict[str, Family] = {
    f.name: f
    for f in (
        SD(), SDXL(), SD3(), Flux(), Sana(), QwenImage(), AnimateDiff(), Wan(), LTX(),
        CogVideoX(), HunyuanVideo(), Family(),
    )
}  # fmt: skip
assert set(BEHAVIOURS) == {*FAMILIES, GENERIC}, "every family has its behaviour"


def family_for(spec: ModelSpec) -> Family:
    return BEHAVIOURS[spec.family]


def check_loaded(spec: ModelSpec, pipe: object) -> None:
    """Raise ModelMismatch (a clear message) when the loaded pipeline contradicts its entry:
    a class outside the entry's family, or a known family's class under ``generic``."""
    cls = type(pipe).__name__
    if spec.family == GENERIC:
        for rules in FAMILIES.values():
            if cls in rules.pipelines:
                raise ModelMismatch(
                    f"the model's pipeline is {cls}, of family {rules.name!r}: state "
                    f"`family: {rules.name}` (or `pipeline: {cls}`) in its entry so that its "
                    "rules apply"
                )
        return
    family_for(spec).check_loaded(spec, pipe)


__all__ = ["PER_JOB_KWARGS", "Family", "JobPrompt", "ModelMismatch", "check_loaded", "family_for"]
