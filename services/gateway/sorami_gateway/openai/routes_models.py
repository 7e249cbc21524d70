"""``GET /v1/models`` and ``GET /v1/models/{model}``: OpenAI's ``models.list`` / ``retrieve``
over the models a client may ask for (the same allow-lists as ``GET /api/models``, which also
gives their defaults and limits). Many OpenAI clients call it first, to check a model exists."""

from __future__ import annotations

import time
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from ..generations.model_catalog import catalog
from ..rest.deps import CurrentUser, SettingsDep
from .errors import OPENAI_ERROR_RESPONSES, OpenAIRoute, not_found

router = APIRouter(
    prefix="/v1", tags=["openai"], route_class=OpenAIRoute, responses=OPENAI_ERROR_RESPONSES
)

# No registry entry has a creation date: "created" is when this gateway process loaded them.
LOADED_AT = int(time.time())
OWNER = "sorami"


class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelPage(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


def _models(settings: SettingsDep) -> list[Model]:
    return [Model(id=item["name"], created=LOADED_AT, owned_by=OWNER) for item in catalog(settings)]


@router.get("/models", response_model=ModelPage)
async def list_models(user_id: CurrentUser, settings: SettingsDep) -> ModelPage:
    """OpenAI's `models.list`: every image and video model this gateway accepts (each kind's
    default first). Defaults and limits: `GET /api/models`."""
    return ModelPage(data=_models(settings))


@router.get("/models/{model}", response_model=Model)
async def retrieve_model(model: str, user_id: CurrentUser, settings: SettingsDep) -> Model:
    """OpenAI's `models.retrieve`: a model's name, or an alias of one
    (`SORAMI_GATEWAY_OPENAI_MODEL_ALIASES`)."""
    target = settings.openai_model_aliases.get(model, model)
    if any(item.id == target for item in _models(settings)):
        return Model(id=model, created=LOADED_AT, owned_by=OWNER)
    raise not_found(f"The model '{model}' does not exist", param="model")
