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


class ModelInfo(BaseModel):
    name: str
    kind: Kind
    default: bool  # the kind's default model (used when a request names none)
    # width, height, num_inference_steps, guidance_scale; images num_images; videos
    # num_frames, fps
    defaults: dict[str, int | float]
    limits: ModelLimits


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
