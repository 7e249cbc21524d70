"""``POST /v1/images/generations``: create, wait for the job (bounded), answer the images."""

from __future__ import annotations

import base64
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from sorami_shared.events import Kind
from sorami_shared.logging import get_logger
from sorami_shared.storage import Storage, StorageError

from ..events.hub import EventHub
from ..events.routes import hub_component
from ..generations import service as generations
from ..generations.tables import Generation, GenerationFile, Status
from ..infra.db import SessionFactory
from ..media.urls import MediaUrls, MediaUrlsDep, StorageDep
from ..rest.deps import Sessions
from .create import CreationDep
from .errors import OPENAI_ERROR_RESPONSES, SERVER_ERROR, OpenAIError, OpenAIRoute, unavailable
from .params import image_request
from .schemas import ImageData, ImageGenerationRequest, ImagesResponse
from .streaming import image_stream
from .waiting import wait_until_finished

log = get_logger(__name__)

router = APIRouter(
    prefix="/v1", tags=["openai"], route_class=OpenAIRoute, responses=OPENAI_ERROR_RESPONSES
)


@router.post("/images/generations", response_model=ImagesResponse)
async def create_images(
    create: CreationDep,
    sessions: Sessions,
    urls: MediaUrlsDep,
    storage: StorageDep,
    hub: Annotated[EventHub, Depends(hub_component)],
) -> ImagesResponse:
    """OpenAI's `images.generate`: waits for the job up to `openai_image_wait_s`, then answers
    its images as URLs or base64 (PNG, JPEG or WebP: `output_format`). The job is also at
    `/api/images/{id}`. With `stream: true`: server-sent `image_generation.partial_image`
    (up to `partial_images`, 0-3: live previews) then `image_generation.completed` events."""
    settings = create.creator.settings
    body, admitted = await create.accept(
        ImageGenerationRequest, Kind.IMAGE, image_request, "POST /v1/images/generations"
    )
    job_id = admitted.job_id
    log.info(
        "openai image generation accepted",
        job_id=str(job_id),
        replayed=admitted.replayed,
        end_user=body.safety_identifier or body.user,
        stream=bool(body.stream),
    )
    if body.stream:
        frames = image_stream(
            hub=hub,
            sessions=sessions,
            storage=storage,
            job_id=job_id,
            user_id=create.creator.user_id,
            partial_images=body.partial_images or 0,
            quality=body.quality,
            within_s=settings.openai_image_wait_s,
        )
        return StreamingResponse(  # type: ignore[return-value]
            frames, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )
    return await answer_images(body, job_id, settings.openai_image_wait_s, sessions, urls, storage)


async def answer_images(
    body: ImageGenerationRequest,
    job_id: uuid.UUID,
    wait_s: float,
    sessions: SessionFactory,
    urls: MediaUrls,
    storage: Storage | None,
) -> ImagesResponse:
    """Wait for the job (bounded), then its images as URLs or base64 (or OpenAI's error)."""
    generation = await wait_until_finished(sessions, job_id, within_s=wait_s)
    if generation is None:
        raise OpenAIError(
            504,
            f"Image generation {job_id} is still running after {wait_s:g} s. "
            f"Follow it at GET /api/images/{job_id}/status and fetch it from "
            f"GET /api/images/{job_id}/result.",
            type=SERVER_ERROR,
            code="generation_pending",
            headers={"x-should-retry": "false"},
            extra={"job_id": str(job_id)},
        )
    if generation.status != Status.COMPLETED.value:
        raise OpenAIError(
            500,
            f"Image generation {job_id} {generation.status.lower()}: "
            f"{generation.error or 'no reason given'}",
            type=SERVER_ERROR,
            code=generation.error_code or "generation_failed",
            headers={"x-should-retry": "false"},
            extra={"job_id": str(job_id)},
        )
    async with sessions() as session:
        files = (await generations.files_of(session, [job_id])).get(job_id, [])
    as_base64 = body.response_format == "b64_json"
    return ImagesResponse(
        id=str(job_id),
        created=int(generation.created_at.timestamp()),  # type: ignore[union-attr]
        data=[await _image(f, urls, storage, as_base64=as_base64) for f in files],
        size=_size(generation),
        output_format=generation.params.get("output_format") or "png",
        quality=body.quality,
    )


def _size(generation: Generation) -> str:
    return f"{generation.params['width']}x{generation.params['height']}"


async def _image(
    file: GenerationFile, urls: MediaUrls, storage: Storage | None, *, as_base64: bool
) -> ImageData:
    if not as_base64:
        return ImageData(url=await urls.url(file.key))
    if storage is None:
        raise unavailable("storage unavailable")
    try:
        data = await storage.get(file.key)
    except StorageError as exc:
        log.error("reading an image failed", key=file.key, error=str(exc))
        raise unavailable("storage unavailable") from None
    return ImageData(b64_json=base64.b64encode(data).decode())
