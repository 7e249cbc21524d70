"""The models a client may ask for: each allow-listed model's registry entry, with its limits
narrowed by the operator's per-kind caps (``IMAGE_LIMITS``, ``VIDEO_LIMITS``).

One place answers "what does this model take, and what does it get by default" for the
request models (:mod:`sorami_gateway.generations.requests`), ``/v1`` and ``GET /api/models``.
"""

from __future__ import annotations

from typing import Any

from sorami_shared.events import Kind
from sorami_shared.model_registry import ModelSpec

from ..settings import GatewaySettings


def _narrowed(spec: ModelSpec, settings: GatewaySettings) -> ModelSpec:
    caps = settings.limits_for(spec.kind)
    limits = spec.limits()
    return spec.model_copy(
        update={
            "min_width": max(limits["min_width"], caps.min_size),
            "min_height": max(limits["min_height"], caps.min_size),
            "max_width": min(spec.max_width, caps.max_size),
            "max_height": min(spec.max_height, caps.max_size),
            "max_steps": min(spec.max_steps, caps.max_steps),
            "max_images": min(spec.max_images, caps.max_num_images),
            "max_frames": min(spec.max_frames, caps.max_num_frames),
            "max_fps": min(spec.max_fps, caps.max_fps),
            "max_guidance_scale": min(spec.max_guidance_scale, caps.max_guidance_scale),
        }
    )


def allowed_models(settings: GatewaySettings, kind: Kind) -> dict[str, ModelSpec]:
    """The kind's allow-list (first = default), each with its narrowed limits. A default
    outside them is a configuration error, raised here, at start."""
    specs = {
        name: _narrowed(settings.registry[name], settings) for name in settings.models_for(kind)
    }
    for name, spec in specs.items():
        for field, value in spec.request_defaults().items():
            why = spec.refusal(field, value)
            if why:
                raise ValueError(
                    f"model {name!r}: its default {field}={value} {why} "
                    f"(its registry entry and SORAMI_GATEWAY_{kind.value.upper()}_LIMITS)"
                )
    return specs


def describe(name: str, spec: ModelSpec, *, default: bool) -> dict[str, Any]:
    """One item of ``GET /api/models``."""
    return {
        "name": name,
        "kind": spec.kind.value,
        "default": default,
        "defaults": spec.request_defaults(),
        "limits": spec.limits(),
        "rules": spec.rules(),
    }


def catalog(settings: GatewaySettings, kind: Kind | None = None) -> list[dict[str, Any]]:
    return [
        describe(name, spec, default=i == 0)
        for k in Kind
        if kind in (None, k)
        for i, (name, spec) in enumerate(allowed_models(settings, k).items())
    ]
