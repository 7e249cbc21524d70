"""``/v1/videos``: the SDK's ``videos`` resource (create, retrieve, list, download_content,
delete) over Sorami's video generations."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from sorami_shared.events import Kind
from sorami_shared.logging import get_logger
from sorami_shared.storage import ObjectNotFound, Storage, StorageError

from ..generations import control as live_control
from ..generations import service as generations
from ..generations.tables import Generation, Status
from ..media.urls import StorageDep
from ..rest.deps import CorrelationId, CurrentUser, SessionDep, Sessions, SettingsDep
from ..settings import GatewaySettings
from .bodies import parse_with_files
from .create import Creation, CreationDep
from .errors import (
    OPENAI_ERROR_RESPONSES,
    OpenAIRoute,
    bad_request,
    from_validation,
    not_found,
    unavailable,
)
from .params import VIDEO_NAMES, video_request
from .schemas import Video, VideoCreateRequest, VideoDeleted, VideoList
from .uploaded import checked_image, store_files
from .videos import list_videos, owned_video, parse_video_id, video_of

log = get_logger(__name__)

router = APIRouter(
    prefix="/v1", tags=["openai"], route_class=OpenAIRoute, responses=OPENAI_ERROR_RESPONSES
)

POLL_AFTER_HEADER = "openai-poll-after-ms"
REFERENCE = "input_reference"


def _answer(generation: Generation, response: Response, settings: GatewaySettings) -> Video:
    if not Status(generation.status).terminal:
        response.headers[POLL_AFTER_HEADER] = str(settings.openai_poll_after_ms)
    return video_of(generation)


async def _first_frame(
    body: VideoCreateRequest, files: dict[str, bytes], create: Creation, sessions: Sessions,
    storage: Storage | None,
) -> str | None:  # fmt: skip
    """``input_reference``: a file (stored as an upload) or an upload id → the upload id."""
    c = create.creator
    if REFERENCE in files:
        image = await checked_image(REFERENCE, files[REFERENCE], c.settings.uploads.max_pixels)
        ids = await store_files(
            sessions, storage, c.settings.uploads, c.user_id, {REFERENCE: image}
        )
        return ids[REFERENCE]
    if body.input_reference is None or isinstance(body.input_reference, str):
        return body.input_reference
    raise bad_request(
        "input_reference must be an image file (multipart) or the id of one of your uploads.",
        param=REFERENCE,
        code="invalid_value",
    )


@router.post("/videos", response_model=Video)
async def create_video(
    create: CreationDep,
    session: SessionDep,
    sessions: Sessions,
    storage: StorageDep,
    response: Response,
) -> Video:
    """OpenAI's `videos.create` (multipart/form-data or JSON): `prompt`, `model`, `seconds`,
    `size`, `input_reference` (the first frame: an image file, or an upload id, for a model
    that takes an image); answers the queued Video at once. The job is also at
    `/api/videos/{id}`."""
    c = create.creator
    limit = c.settings.max_request_body_bytes + c.settings.uploads.max_bytes
    body, files = await parse_with_files(
        create.request, VideoCreateRequest, limit=limit, file_names=(REFERENCE,)
    )
    image = await _first_frame(body, files, create, sessions, storage)
    sorami_request = video_request(body, c.request_models[Kind.VIDEO], c.settings, image)
    try:
        admitted = await c.admit(
            Kind.VIDEO, sorami_request, "POST /v1/videos", sdk_retry=create.retries > 0
        )
    except RequestValidationError as exc:  # the reference is not a ready upload of the caller
        raise from_validation(list(exc.errors()), rename=VIDEO_NAMES) from None
    log.info("openai video accepted", job_id=str(admitted.job_id), replayed=admitted.replayed)
    video = await owned_video(session, create.creator.user_id, str(admitted.job_id))
    return _answer(video, response, create.creator.settings)


@router.get("/videos", response_model=VideoList)
async def list_videos_page(
    user_id: CurrentUser,
    session: SessionDep,
    after: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
) -> VideoList:
    """The caller's videos, newest first by default; page with `after` (the last id seen)."""
    rows, has_more = await list_videos(
        session, user_id=user_id, after=after, limit=limit, order=order
    )
    data = [video_of(row) for row in rows]
    return VideoList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=has_more,
    )


@router.get("/videos/{video_id}", response_model=Video)
async def retrieve_video(
    video_id: str,
    response: Response,
    user_id: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> Video:
    """The Video with its status (`queued`, `in_progress`, `completed`, `failed`) and
    progress; while it runs, `openai-poll-after-ms` says when to ask again."""
    return _answer(await owned_video(session, user_id, video_id), response, settings)


OCTET_STREAM = "application/octet-stream"
_BINARY = {"schema": {"type": "string", "format": "binary"}}
CONTENT_RESPONSE = {
    "description": "The file's bytes: video/mp4 (`variant=video`) or image/png "
    "(`variant=thumbnail`); application/octet-stream when the request's Accept asks for that "
    "and not for the file's own type.",
    "content": {"video/mp4": _BINARY, "image/png": _BINARY, OCTET_STREAM: _BINARY},
}


@router.get(
    "/videos/{video_id}/content",
    response_class=Response,
    responses={200: CONTENT_RESPONSE},
)
async def download_video_content(
    request: Request,
    video_id: str,
    user_id: CurrentUser,
    session: SessionDep,
    storage: StorageDep,
    variant: Literal["video", "thumbnail", "spritesheet"] = "video",
) -> Response:
    """The MP4 (`variant=video`) or its poster frame as PNG (`variant=thumbnail`)."""
    generation = await owned_video(session, user_id, video_id)
    if variant == "spritesheet":
        raise bad_request("The 'spritesheet' variant is not available.", param="variant")
    if generation.status != Status.COMPLETED.value:
        raise bad_request(
            f"Video {video_id} is {video_of(generation).status}; its content exists once it "
            "is completed.",
            code="video_not_ready",
        )
    files = (await generations.files_of(session, [generation.id])).get(generation.id, [])  # type: ignore[list-item]
    key = (files[0].key if variant == "video" else files[0].poster_key) if files else None
    if key is None:
        raise not_found(f"Video {video_id} has no {variant}.", param="variant")
    if storage is None:
        raise unavailable("storage unavailable")
    try:
        data = await storage.get(key)
    except ObjectNotFound:
        raise not_found(f"The {variant} of video {video_id} is gone from storage.") from None
    except StorageError as exc:
        log.error("reading video content failed", key=key, error=str(exc))
        raise unavailable("storage unavailable") from None
    media_type = "video/mp4" if variant == "video" else "image/png"
    accept = request.headers.get("accept", "")
    if OCTET_STREAM in accept and media_type not in accept:  # a client that asks for bytes
        media_type = OCTET_STREAM
    return Response(data, media_type=media_type, headers={"Cache-Control": "private"})


@router.delete("/videos/{video_id}", response_model=VideoDeleted)
async def delete_video(
    video_id: str, user_id: CurrentUser, session: SessionDep, correlation_id: CorrelationId
) -> VideoDeleted:
    """Deletes the video and its files (a running one is cancelled first), exactly like
    `DELETE /api/videos/{id}`; a repeated delete (an SDK retry) answers the same."""
    gone = await live_control.delete_generation(
        session,
        user_id=user_id,
        kind=Kind.VIDEO,
        job_id=parse_video_id(video_id),
        correlation_id=correlation_id,
    )
    if not gone:
        raise not_found(f"No video found with id '{video_id}'.")
    await session.commit()
    return VideoDeleted(id=video_id)
