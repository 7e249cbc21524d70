"""Qwen-Image: the request's guidance_scale is the true-CFG scale (the pipeline's own
``guidance_scale`` is for guidance-distilled checkpoints, which this family does not serve).
True CFG runs only with a negative prompt, so a job with guidance > 1 and none gets ``" "``
(the model card's empty negative); a job with guidance <= 1 runs one pass and no negative."""

from __future__ import annotations

from typing import Any

from sorami_shared.model_registry import ModelSpec

from .base import Family

EMPTY_NEGATIVE = " "


class QwenImage(Family):
    name = "qwen-image"

    def adapt(
        self, spec: ModelSpec, kwargs: dict[str, Any], accepted: set[str] | None, fps: int | None
    ) -> None:
        super().adapt(spec, kwargs, accepted, fps)
        scale = float(kwargs.pop("guidance_scale", 1.0))
        kwargs["true_cfg_scale"] = scale
        if scale > 1:
            kwargs["negative_prompt"] = kwargs.get("negative_prompt") or EMPTY_NEGATIVE
        else:
            kwargs.pop("negative_prompt", None)
