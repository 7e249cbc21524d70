"""``POST /api/{kind}/{id}/cancel`` and ``DELETE /api/{kind}/{id}`` (one path for both kinds).

Cancel: 202 with the status (now CANCELLED) when this call cancelled it; 200 with the status
when it was already CANCELLED (cancelling twice is harmless); 409 when it already COMPLETED or
FAILED; 404 when the caller has no such generation.

Delete: 204 when the generation is gone — also for a repeated DELETE by its owner (the
generation's tombstone is kept); 404 only when the caller never had it (another user's
generation answers 404 like a missing one). A running generation is cancelled first. Its
files leave storage shortly after, retried while storage is down.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Response, status
from fastapi.responses import JSONResponse

from ..rest.deps import CorrelationId, CurrentUser, SessionDep
from ..rest.errors import UNAUTHENTICATED
from . import control as live_control
from . import service as generations
from .schemas import GenerationStatusPublic, KindPath

router = APIRouter(prefix="/api", tags=["generations"], responses=UNAUTHENTICATED)


@router.post(
    "/{kind}/{job_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=GenerationStatusPublic,
    responses={
        200: {"model": GenerationStatusPublic, "description": "Already cancelled; nothing done"},
        404: {"description": "No such generation for this user and kind"},
        409: {"description": "Already COMPLETED or FAILED"},
    },
)
async def cancel(
    kind: KindPath,
    job_id: uuid.UUID,
    user_id: CurrentUser,
    session: SessionDep,
    correlation_id: CorrelationId,
) -> GenerationStatusPublic | JSONResponse:
    """Cancel a PENDING job (it never runs) or a PROCESSING one (the generator stops between
    denoising steps and keeps no files). The job ends CANCELLED."""
    try:
        outcome = await live_control.cancel_generation(
            session, user_id=user_id, kind=kind.kind, job_id=job_id, correlation_id=correlation_id
        )
    except live_control.CannotCancel as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    if outcome is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "generation not found")
    generation, changed = outcome
    await session.commit()
    body = generations.status_of(generation)
    if not changed:
        return JSONResponse(body.model_dump(mode="json"), status_code=status.HTTP_200_OK)
    return body


@router.delete(
    "/{kind}/{job_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"description": "The caller never had this generation"}},
)
async def delete(
    kind: KindPath,
    job_id: uuid.UUID,
    user_id: CurrentUser,
    session: SessionDep,
    correlation_id: CorrelationId,
) -> Response:
    """Remove the generation from the caller's history and its files from storage.
    Idempotent: a repeated DELETE answers 204."""
    gone = await live_control.delete_generation(
        session, user_id=user_id, kind=kind.kind, job_id=job_id, correlation_id=correlation_id
    )
    if not gone:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "generation not found")
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
