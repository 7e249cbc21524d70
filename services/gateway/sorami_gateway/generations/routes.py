"""``/api/{kind}/...``: one code path for images and videos, ``kind`` being a path enum."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from ..infra.db import driver_connection
from ..media.urls import MediaUrlsDep
from ..rest.bodies import UNSUPPORTED_MEDIA_TYPE, read_json_body
from ..rest.deps import (
    CurrentUser,
    CursorQuery,
    EngineDep,
    SessionDep,
    page_cursor,
)
from ..rest.errors import UNAUTHENTICATED, body_validation_error
from . import lifetimes
from . import service as generations
from .creation import CreatorDep
from .schemas import (
    GenerateAccepted,
    GenerationPage,
    GenerationResultPublic,
    GenerationStatusPublic,
    KindPath,
)
from .status_sql import status_answer

router = APIRouter(prefix="/api", tags=["generations"], responses=UNAUTHENTICATED)

NOT_FOUND = {404: {"description": "No such generation for this user and kind"}}


def _generate_openapi() -> dict[str, Any]:
    # The body's schema depends on {kind}; documented here as an anyOf of both, filled in by
    # create_app once the request models are built from the settings.
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {}}}}}


@router.post(
    "/{kind}/generate",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=GenerateAccepted,
    openapi_extra=_generate_openapi(),
    responses={
        409: {"description": "This Idempotency-Key was already used with a different body"},
        413: {"description": "Body too large"},
        415: UNSUPPORTED_MEDIA_TYPE,
        422: {"description": "Invalid parameters; `detail[].loc` names the field"},
        429: {
            "description": "Per-user rate limit or unfinished-jobs cap reached; see Retry-After",
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        },
    },
)
async def generate(kind: KindPath, request: Request, create: CreatorDep) -> Response:
    """Accept a generation: one transaction stores it and its `generation.requested` event
    (outbox); the relay publishes it. No broker call here. With an `Idempotency-Key`, a retry
    of the same request answers the same job."""
    body = await read_json_body(request, create.settings.max_request_body_bytes)
    try:
        parsed = create.request_models[kind.kind].model_validate_json(body or b"null")
    except ValidationError as exc:
        raise body_validation_error(exc) from None
    admitted = await create.admit(kind.kind, parsed, f"POST /api/{kind.value}/generate")
    headers = {"Idempotent-Replayed": "true"} if admitted.replayed else None
    return JSONResponse(admitted.body, status_code=admitted.status_code, headers=headers)


@router.get("/{kind}/user", response_model=GenerationPage)
async def history(
    kind: KindPath,
    user_id: CurrentUser,
    session: SessionDep,
    urls: MediaUrlsDep,
    cursor: CursorQuery = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> GenerationPage:
    """The caller's generations of this kind, newest first."""
    return await generations.history_page(
        session,
        user_id=user_id,
        kind=kind.kind,
        cursor=page_cursor(cursor),
        limit=limit,
        urls=urls,
    )


async def _owned(session: SessionDep, user_id: str, kind: KindPath, job_id: uuid.UUID) -> Any:
    generation = await generations.get_generation(
        session, user_id=user_id, kind=kind.kind, job_id=job_id
    )
    if generation is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "generation not found")
    return generation


@router.get("/{kind}/{job_id}/status", response_model=GenerationStatusPublic, responses=NOT_FOUND)
async def generation_status(
    kind: KindPath, job_id: uuid.UUID, user_id: CurrentUser, engine: EngineDep
) -> Response:
    """One indexed statement on the driver (a hot path: clients poll it)."""
    async with driver_connection(engine) as conn:
        answer = await status_answer(conn, user_id, kind.kind, job_id)
    if answer is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "generation not found")
    return JSONResponse(answer)


@router.get(
    "/{kind}/{job_id}/result",
    response_model=GenerationResultPublic,
    responses={**NOT_FOUND, 410: {"description": "The result expired (expires_at passed)"}},
)
async def generation_result(
    kind: KindPath, job_id: uuid.UUID, user_id: CurrentUser, session: SessionDep, urls: MediaUrlsDep
) -> GenerationResultPublic:
    generation = await _owned(session, user_id, kind, job_id)
    if lifetimes.expired(generation.expires_at):
        raise lifetimes.gone(generation)
    files = await generations.files_of(session, [generation.id])
    places = await generations.queue_places(session, [generation])
    return await generations.result_of(
        generation, files.get(generation.id, []), urls, places.get(generation.id)
    )
