"""From a ``generation.requested`` to the exact pipeline call, or a readable refusal.

Everything a model cannot take is refused here, before any GPU time is spent: the wrong kind,
sizes outside the model's limits or not a multiple of its latent grid, step/frame/image counts
out of range, parameters the pipeline does not accept.
"""

from __future__ import annotations

import hashlib
import inspect
import uuid
from dataclasses import dataclass, field
from typing import Any

from sorami_shared.events import FailureCode, GenerationRequested, Kind
from sorami_shared.model_registry import ModelSpec

from .errors import JobFailed
from .families import family_for


def seed_for(job_id: uuid.UUID, seed: int | None) -> int:
    """The seed the job runs with: the requested one, else one derived from the job id, so a
    redelivered job makes the same output."""
    if seed is not None:
        return seed
    return int.from_bytes(hashlib.sha256(f"seed/{job_id}".encode()).digest()[:4], "big")


@dataclass(frozen=True)
class PlannedCall:
    model: str
    kind: Kind
    seed: int
    kwargs: dict[str, Any]  # pipeline kwargs, without generator / callbacks / output_type
    outputs: int  # images, or videos
    steps: int
    width: int
    height: int
    num_frames: int | None = None
    fps: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def invalid(reason: str) -> JobFailed:
    return JobFailed(FailureCode.INVALID_PARAMETERS, reason)


def resolve_model(registry: dict[str, ModelSpec], name: str) -> ModelSpec:
    spec = registry.get(name)
    if spec is None:
        known = ", ".join(sorted(registry))
        raise JobFailed(FailureCode.UNKNOWN_MODEL, f"unknown model {name!r}; available: {known}")
    return spec


def plan_call(
    request: GenerationRequested, spec: ModelSpec, accepted: set[str] | None = None
) -> PlannedCall:
    """``accepted``: the pipeline's ``__call__`` parameter names, when known."""
    p = request.params
    if request.kind != spec.kind:
        raise invalid(f"model {p.model!r} makes {spec.kind.plural}, not {request.kind.plural}")
    m = spec.size_multiple
    for name, value, limit in (
        ("width", p.width, spec.max_width),
        ("height", p.height, spec.max_height),
    ):
        if value < m or value > limit:
            raise invalid(f"{name} must be between {m} and {limit} for {p.model!r}, got {value}")
        if value % m:
            raise invalid(f"{name} must be a multiple of {m} for {p.model!r}, got {value}")
    if not 1 <= p.num_inference_steps <= spec.max_steps:
        raise invalid(
            f"num_inference_steps must be between 1 and {spec.max_steps},"
            f" got {p.num_inference_steps}"
        )
    if not 0 <= p.guidance_scale <= spec.max_guidance_scale:
        raise invalid(
            f"guidance_scale must be between 0 and {spec.max_guidance_scale},"
            f" got {p.guidance_scale}"
        )
    given = p.model_dump()
    for name in ("guidance_scale", "negative_prompt", "num_frames"):  # the family's rules
        why = spec.refusal(name, given.get(name), given)
        if why and (name != "num_frames" or p.num_frames is not None):
            raise invalid(f"{name} {why} ({p.model!r})")
    if p.seed is not None and not 0 <= p.seed < 2**63:
        raise invalid(f"seed must be between 0 and 2^63-1, got {p.seed}")
    if not p.prompt.strip():
        raise invalid("prompt must not be empty")

    defaults = spec.request_defaults()
    kwargs: dict[str, Any] = spec.pipeline_kwargs
    kwargs.update(
        prompt=p.prompt,
        width=p.width,
        height=p.height,
        num_inference_steps=p.num_inference_steps,
        guidance_scale=p.guidance_scale,
    )
    if p.negative_prompt:
        kwargs["negative_prompt"] = p.negative_prompt

    num_frames: int | None = None
    fps: int | None = None
    if spec.kind == Kind.IMAGE:
        if p.num_frames is not None or p.fps is not None:
            raise invalid(f"num_frames and fps apply to videos; {p.model!r} makes images")
        if not 1 <= p.num_images <= spec.max_images:
            raise invalid(f"num_images must be between 1 and {spec.max_images}, got {p.num_images}")
        outputs = p.num_images
        count_kw = "num_images_per_prompt"
    else:
        num_frames = p.num_frames if p.num_frames is not None else defaults["num_frames"]
        fps = p.fps if p.fps is not None else defaults["fps"]
        if not 1 <= num_frames <= spec.max_frames:
            raise invalid(f"num_frames must be between 1 and {spec.max_frames}, got {num_frames}")
        if not 1 <= fps <= spec.max_fps:
            raise invalid(f"fps must be between 1 and {spec.max_fps}, got {fps}")
        if not 1 <= p.num_images <= spec.max_images:
            raise invalid(f"num_images must be between 1 and {spec.max_images}, got {p.num_images}")
        kwargs["num_frames"] = num_frames
        outputs = p.num_images
        count_kw = "num_videos_per_prompt"
    family_for(spec).adapt(spec, kwargs, accepted, fps)

    if accepted is not None:
        if outputs > 1 and count_kw not in accepted:
            raise invalid(f"{p.model!r} makes one {spec.kind.value} per request")
        if count_kw in accepted:
            kwargs[count_kw] = outputs
        refused = sorted(k for k in kwargs if k not in accepted)
        if refused:
            raise invalid(f"{p.model!r} does not take {', '.join(refused)}")
    elif outputs > 1 or count_kw == "num_images_per_prompt":
        kwargs[count_kw] = outputs

    extra: dict[str, Any] = {}
    if p.quality == "draft" or spec.draft_only:
        if spec.kind != Kind.IMAGE or not spec.draft_decoder:
            raise invalid(f"quality draft needs an image model with a draft_decoder ({p.model!r})")
        extra["decoder"] = "draft"
    return PlannedCall(
        extra=extra,
        model=p.model,
        kind=spec.kind,
        seed=seed_for(request.job_id, p.seed),
        kwargs=kwargs,
        outputs=outputs,
        steps=p.num_inference_steps,
        width=p.width,
        height=p.height,
        num_frames=num_frames,
        fps=fps,
    )


def call_parameters(pipe: Any) -> set[str]:
    """The keyword arguments a pipeline's ``__call__`` accepts."""
    try:
        params = inspect.signature(pipe.__call__).parameters
    except (TypeError, ValueError):
        return set()
    return {
        n for n, prm in params.items() if prm.kind in (prm.KEYWORD_ONLY, prm.POSITIONAL_OR_KEYWORD)
    }
