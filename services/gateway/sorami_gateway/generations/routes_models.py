"""``GET /api/models``: the models a client may ask for, their defaults and limits.

The same entries the request models validate against
(:mod:`sorami_gateway.generations.model_catalog`): a request within ``limits`` is accepted, a
field left out gets ``defaults``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sorami_shared.events import Kind

from ..rest.deps import CurrentUser, SettingsDep
from ..rest.errors import UNAUTHENTICATED
from .model_catalog import catalog

router = APIRouter(prefix="/api", tags=["models"], responses=UNAUTHENTICATED)


class ModelLimits(BaseModel):
    size_multiple: int
    min_width: int
    max_width: int
    min_height: int
    max_height: int
    max_steps: int
    max_images: int | None  # None: videos
    max_frames: int | None  # None: images
    max_fps: int | None  # None: images
    max_guidance_scale: float


class ModelRules(BaseModel):
    """The model's family and how it honours the request fields (README: model families)."""

    family: str
    family_title: str
    size_multiple: int
    frame_rule: str | None  # videos: the frame counts it makes, e.g. 4k+1; None: images
    negative_prompt: str  # cfg (needs guidance_scale > 1) | true_cfg | none
    guidance: str  # cfg | embedded | true_cfg | none (guidance_scale must be 0)
    max_prompt_tokens: int  # longer prompts are truncated
    inputs: list[str] = []  # input images it takes: image (img2img, first frame), mask


class ModelInfo(BaseModel):
    name: str
    kind: Kind
    default: bool  # the kind's default model (used when a request names none)
    # width, height, num_inference_steps, guidance_scale; images num_images; videos
    # num_frames, fps
    defaults: dict[str, int | float]
    limits: ModelLimits
    rules: ModelRules


class ModelList(BaseModel):
    items: list[ModelInfo]


@router.get("/models", response_model=ModelList)
async def list_models(
    user_id: CurrentUser,
    settings: SettingsDep,
    kind: Annotated[Kind | None, Query(description="image or video; both if absent")] = None,
) -> ModelList:
    """The allowed models of each kind (the first of a kind is its default), with the
    defaults a request gets and the limits it must stay within."""
    items = [ModelInfo.model_validate(item) for item in catalog(settings, kind)]
    return ModelList(items=items)
