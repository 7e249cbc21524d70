"""``GET /api/models``: the allowed models with their kind, defaults and limits.

Minimal version built from the gateway's allow-lists and per-kind limits, for the web app's
form; to be replaced by the model registry's own listing when it lands."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sorami_shared.events import Kind

from ..settings import GatewaySettings
from .deps import Context, CurrentUser
from .errors import UNAUTHENTICATED

router = APIRouter(prefix="/api", tags=["models"], responses=UNAUTHENTICATED)


def _entry(settings: GatewaySettings, kind: Kind, name: str, default: bool) -> dict[str, Any]:
    lim = settings.limits_for(kind)
    video = kind == Kind.VIDEO
    defaults: dict[str, Any] = {
        "width": lim.default_width,
        "height": lim.default_height,
        "num_inference_steps": lim.default_steps,
        "guidance_scale": lim.default_guidance_scale,
    }
    defaults |= (
        {"num_frames": lim.default_num_frames, "fps": lim.default_fps}
        if video
        else {"num_images": lim.default_num_images}
    )
    limits = {
        "size_multiple": lim.size_multiple,
        "min_width": lim.min_size,
        "max_width": lim.max_size,
        "min_height": lim.min_size,
        "max_height": lim.max_size,
        "max_steps": lim.max_steps,
        "max_images": None if video else lim.max_num_images,
        "max_frames": lim.max_num_frames if video else None,
        "max_guidance_scale": lim.max_guidance_scale,
    }
    return {
        "name": name,
        "kind": kind.value,
        "default": default,
        "defaults": defaults,
        "limits": limits,
    }


@router.get("/models")
async def models(_: CurrentUser, context: Context) -> dict[str, Any]:
    """Every model a generate may name, per kind; the first of each kind is the default."""
    s = context.settings
    return {
        "items": [
            _entry(s, kind, name, i == 0)
            for kind in Kind
            for i, name in enumerate(s.models_for(kind))
        ]
    }
