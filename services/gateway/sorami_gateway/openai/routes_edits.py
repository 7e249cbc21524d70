"""``POST /v1/images/edits``: OpenAI's ``images.edit`` (multipart: ``image``, optional
``mask``, ``prompt``, ``n``, ``size``, ``response_format``...). Both files are checked and
stored as the user's uploads (:mod:`sorami_gateway.uploads`: the same caps and quota), then
the job is an img2img (or, with a mask, an inpainting) job like ``POST /api/images/generate``
with ``image``/``mask``. OpenAI's mask marks the area to edit with fully transparent pixels;
it is turned into Sorami's (white repaints) and must be the image's size."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field, ValidationError
from sorami_shared.events import Kind
from sorami_shared.logging import get_logger

from ..media.urls import MediaUrlsDep, StorageDep
from ..rest.deps import Sessions
from ..uploads.images import CheckedImage, ImageRefused, check_image, mask_from_alpha
from .bodies import _read, read_form
from .create import CreationDep
from .errors import (
    OPENAI_ERROR_RESPONSES,
    OpenAIRoute,
    bad_request,
    from_validation,
)
from .params import image_request
from .routes_images import answer_images
from .schemas import ImageGenerationRequest, ImagesResponse
from .uploaded import store_files

log = get_logger(__name__)
router = APIRouter(
    prefix="/v1", tags=["openai"], route_class=OpenAIRoute, responses=OPENAI_ERROR_RESPONSES
)
FILES = ("image", "mask")


class ImageEditRequest(ImageGenerationRequest):
    """The text fields of ``images.edit`` (the files are parts of their own)."""

    input_fidelity: str | None = None  # accepted; tunes OpenAI's models only
    strength: float | None = Field(default=None, gt=0, le=1)  # Sorami: how far from the image


async def _form(request: Request, limit: int) -> tuple[dict[str, Any], dict[str, bytes]]:
    body = await _read(request, limit)
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise bad_request("images.edit takes multipart/form-data (the image is a file).")
    fields, files = await read_form(request, body, FILES)
    if "image" not in files:
        raise bad_request("'image' is required: the image to edit, as a file.", param="image")
    return fields, files


def _check(files: dict[str, bytes], max_pixels: int) -> dict[str, CheckedImage]:
    checked: dict[str, CheckedImage] = {}
    for name, data in files.items():
        try:
            if name == "mask":
                checked[name] = mask_from_alpha(data, max_pixels=max_pixels)
            else:
                checked[name] = check_image(data, max_pixels=max_pixels)
        except ImageRefused as exc:
            message = f"Invalid {name}: {exc.reason}."
            raise bad_request(message, param=name, code="invalid_image") from None
    image, mask = checked["image"], checked.get("mask")
    if mask is not None and (mask.width, mask.height) != (image.width, image.height):
        raise bad_request(
            f"Invalid mask: it is {mask.width}x{mask.height}; it must be the image's size "
            f"({image.width}x{image.height}).",
            param="mask",
            code="invalid_image",
        )
    return checked


@router.post("/images/edits", response_model=ImagesResponse)
async def edit_images(
    request: Request,
    create: CreationDep,
    sessions: Sessions,
    urls: MediaUrlsDep,
    storage: StorageDep,
) -> ImagesResponse:
    """OpenAI's `images.edit`: img2img, or inpainting with a mask (transparent = edit)."""
    creator = create.creator
    limits = creator.settings.uploads
    fields, files = await _form(request, 2 * limits.max_bytes + 256 * 1024)
    try:
        body = ImageEditRequest.model_validate(fields)
    except ValidationError as exc:
        raise from_validation(exc.errors(include_url=False)) from None
    checked = await asyncio.to_thread(_check, files, limits.max_pixels)
    ids = await store_files(sessions, storage, limits, creator.user_id, checked)
    inputs: dict[str, Any] = {**ids}
    if body.strength is not None:
        inputs["strength"] = body.strength
    model = creator.request_models[Kind.IMAGE]
    base = ImageGenerationRequest.model_validate(
        body.model_dump(exclude={"input_fidelity", "strength"})
    )
    sorami_request = image_request(base, model, creator.settings, inputs)
    admitted = await creator.admit(
        Kind.IMAGE, sorami_request, "POST /v1/images/edits", sdk_retry=create.retries > 0
    )
    log.info("openai image edit accepted", job_id=str(admitted.job_id), inputs=sorted(ids))
    wait_s = creator.settings.openai_image_wait_s
    return await answer_images(base, admitted.job_id, wait_s, sessions, urls, storage)
