"""An OpenAI-compatible ``/v1`` facade over Sorami's generations: ``openai.OpenAI(
base_url="http://gateway/v1", api_key=TOKEN)`` works for ``images.generate`` and the
``videos`` resource. Same users, limits, history and notifications as ``/api``; errors in
OpenAI's shape (``/api`` keeps its own)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from .errors import OpenAIRoute, not_found
from .routes_edits import ImageEditRequest
from .routes_edits import router as edits_router
from .routes_images import router as images_router
from .routes_models import router as models_router
from .routes_videos import router as videos_router
from .schemas import ImageGenerationRequest, VideoCreateRequest

# the create bodies, read by hand (JSON or multipart/form-data): for the OpenAPI document
MEDIA_TYPES = ("application/json", "multipart/form-data")
BODIES = {
    "POST /v1/images/generations": (ImageGenerationRequest, MEDIA_TYPES),
    "POST /v1/videos": (VideoCreateRequest, MEDIA_TYPES),
    "POST /v1/images/edits": (ImageEditRequest, ("multipart/form-data",)),
}

router = APIRouter()
router.include_router(images_router)
router.include_router(edits_router)  # images.edit (issue 26)
router.include_router(videos_router)
router.include_router(models_router)

_unknown = APIRouter(prefix="/v1", route_class=OpenAIRoute, include_in_schema=False)


@_unknown.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
async def unknown_endpoint(path: str, request: Request) -> None:
    raise not_found(
        f"Invalid URL ({request.method} /v1/{path}): Sorami implements "
        "images.generate, images.edit, the videos resource and models.list."
    )


router.include_router(_unknown)

__all__ = ["router"]
