"""How a family's pipeline is called: the torch side of the rules in
``sorami_shared.model_families`` (pure data, read by the gateway too).

A family turns one job's checked request into pipeline kwargs (``adapt``: where the guidance
goes, whether a negative prompt switches true CFG on), lays many jobs out in one call
(``batch_kwargs``: a prompt, a negative and a seeded generator per image), and checks that a
loaded pipeline is one it serves (``check_loaded``). Steps are reported through
``callback_on_step_end`` and pixels come back as ``output_type="pt"`` (runner.py), in every
family.

Everything that changes one job's pixels is either in the batching key (batching.call_key: all
shared kwargs, and whether the job has a negative prompt) or carried per job, so a job's
pixels never depend on its batch-mates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from sorami_shared.model_families import FAMILIES
from sorami_shared.model_registry import ModelSpec

# Per job, not part of the key: what a batch passes as one list entry per image.
PER_JOB_KWARGS = {
    "prompt",
    "negative_prompt",
    "num_images_per_prompt",
    "num_videos_per_prompt",
    "image",  # input images (issue 26: inputs.py); the mode is in the batching key
    "mask_image",
}


class ModelMismatch(ValueError):
    """The loaded pipeline contradicts its model entry."""


@dataclass(frozen=True)
class JobPrompt:
    prompt: str
    negative_prompt: str | None
    outputs: int


class Family:
    """The classic path (SD-like): negative prompts and guidance go to classifier-free
    guidance as they are."""

    name: ClassVar[str] = "generic"
    output_type: ClassVar[str] = "pt"
    step_callback: ClassVar[str] = "callback_on_step_end"

    def adapt(
        self, spec: ModelSpec, kwargs: dict[str, Any], accepted: set[str] | None, fps: int | None
    ) -> None:
        """Turn the request's kwargs (prompt, negative_prompt, guidance_scale, sizes, frames)
        into this family's call, in place."""
        if accepted is not None and "max_sequence_length" in accepted and self.name != "generic":
            kwargs.setdefault("max_sequence_length", spec.max_prompt_tokens)

    def batch_kwargs(self, jobs: list[JobPrompt], pad_to: int = 0) -> dict[str, Any]:
        """One call's prompts and negatives, one entry per image, padded with blanks. The
        batching key makes negatives all-or-none in one call."""
        if len({job.negative_prompt is None for job in jobs}) > 1:
            raise ValueError("jobs with and without a negative prompt cannot share a call")
        prompts: list[str] = []
        negatives: list[str] = []
        for job in jobs:
            prompts += [job.prompt] * job.outputs
            negatives += [job.negative_prompt or ""] * job.outputs
        blanks = max(0, pad_to - len(prompts))
        out: dict[str, Any] = {"prompt": prompts + [""] * blanks}
        if jobs[0].negative_prompt is not None:
            out["negative_prompt"] = negatives + [""] * blanks
        return out

    def check_loaded(self, spec: ModelSpec, pipe: Any) -> None:
        cls = type(pipe).__name__
        rules = FAMILIES.get(self.name)
        if rules is not None and cls not in rules.pipelines:
            raise ModelMismatch(
                f"the model entry says family {self.name!r} but its pipeline is {cls}, "
                f"which that family does not serve ({', '.join(rules.pipelines)})"
            )


class TrueCfgNegatives(Family):
    """FLUX.1, HunyuanVideo: guidance is embedded (distilled, one pass); a negative prompt
    needs a second pass, true CFG at the entry's ``true_cfg_scale``, switched on only for
    jobs that have one (the negative's presence is in the batching key)."""

    def adapt(
        self, spec: ModelSpec, kwargs: dict[str, Any], accepted: set[str] | None, fps: int | None
    ) -> None:
        super().adapt(spec, kwargs, accepted, fps)
        if kwargs.get("negative_prompt"):
            kwargs["true_cfg_scale"] = spec.true_cfg_scale
        else:
            kwargs.pop("negative_prompt", None)
            kwargs["true_cfg_scale"] = 1.0
