"""``POST /api/batches``, ``GET /api/batches/{batch_id}``, ``POST /api/batches/{batch_id}/cancel``.

Each item is checked exactly like a ``POST /api/{kind}/generate`` body (same model, same
limits); a bad one answers 422 naming it, e.g. ``["body", "requests", 3, "width"]`` (or
``["body", "grid", "base", "width"]``), and nothing is stored. Another user's batch, or none,
answers 404. A field a single create takes but a batch item cannot (its own webhook, input
images, its own expiry) answers 422 naming it, never silently dropped (:data:`NOT_IN_A_BATCH`).
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import ValidationError

from ..generations.requests import BESIDE_PARAMS, GenerateRequestBase, RequestModelsDep
from ..rest.bodies import UNSUPPORTED_MEDIA_TYPE, read_json_body
from ..rest.deps import CorrelationId, CurrentUser, SessionDep, SettingsDep
from ..rest.errors import UNAUTHENTICATED, body_validation_error
from ..webhooks import urls as webhook_urls
from . import service
from .schemas import BatchCreated, BatchPublic, BatchRequest

router = APIRouter(prefix="/api/batches", tags=["batches"], responses=UNAUTHENTICATED)
NOT_FOUND = {404: {"description": "No such batch for this user"}}


def _prefixed(exc: ValidationError, *where: str | int) -> Exception:
    error = body_validation_error(exc)
    for item in error.errors():
        item["loc"] = ("body", *where, *item["loc"][1:])
    return error


_OWN_WEBHOOK = (
    "a batch item has no webhook of its own: subscribe a standing endpoint"
    " (POST /api/webhooks/endpoints) to the jobs' events or to batch.completed"
)
# why each field a single create handles beside the job's parameters is refused in a batch
NOT_IN_A_BATCH = {
    **dict.fromkeys(webhook_urls.FIELDS, _OWN_WEBHOOK),
    "image": "a batch item takes no input image: send it to POST /api/{kind}/generate",
    "mask": "a batch item takes no mask: send it to POST /api/{kind}/generate",
    "expires_after": "a batch item has no expiry of its own: the account's retention applies",
}


def _refuse_unbatchable(item: GenerateRequestBase, loc: list[str | int]) -> None:
    for field in sorted(BESIDE_PARAMS):
        if getattr(item, field, None) is not None:
            why = NOT_IN_A_BATCH.get(field, "not taken in a batch item")
            raise HTTPException(422, [{"loc": [*loc, field], "msg": why, "type": "not_in_batch"}])


def _items(body: BatchRequest, model: type[GenerateRequestBase], most: int) -> list[Any]:
    if (body.requests is None) == (body.grid is None):
        raise HTTPException(422, [{"loc": ["body", "requests"], "msg": "give requests or grid"}])
    if body.requests is not None:
        raw, where = body.requests, "requests"
    else:
        grid = body.grid
        assert grid is not None
        raw = [{**grid.base, "prompt": p, "seed": s} for p in grid.prompts for s in grid.seeds]
        where = "grid"
    if not raw or len(raw) > most:
        loc = ["body", where]
        raise HTTPException(422, [{"loc": loc, "msg": f"1 to {most} jobs, not {len(raw)}"}])
    items = []
    for index, item in enumerate(raw):
        try:
            items.append(model.model_validate_json(json.dumps(item)))
        except ValidationError as exc:
            raise (
                _prefixed(exc, "requests", index)
                if where == "requests"
                else _prefixed(exc, "grid", "base")
            ) from None
        loc = ["body", "requests", index] if where == "requests" else ["body", "grid", "base"]
        _refuse_unbatchable(items[-1], loc)
    return items


# the body this route reads by hand, for the OpenAPI document (generations/openapi.py puts its
# model and the models it refers to in the components)
BODIES = {"POST /api/batches": (BatchRequest, ("application/json",))}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BatchCreated,
    responses={
        413: {"description": "Body too large"},
        415: UNSUPPORTED_MEDIA_TYPE,
        422: {"description": "Invalid batch or item; `detail[].loc` names it"},
        429: {
            "description": "The user's unfinished batch jobs would exceed the batch cap",
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        },
    },
)
async def create(
    request: Request,
    user_id: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    request_models: RequestModelsDep,
    correlation_id: CorrelationId,
) -> BatchCreated:
    """Queue up to ``batch_max_items`` jobs of one kind at the ``batch`` priority: a list of
    generate bodies (``requests``), or every prompt with every seed (``grid``)."""
    raw = await read_json_body(request, settings.batch_max_body_bytes)
    try:
        body = BatchRequest.model_validate_json(raw or b"null")
    except ValidationError as exc:
        raise body_validation_error(exc) from None
    items = _items(body, request_models[body.kind], settings.batch_max_items)
    created = await service.create_batch(
        session,
        settings,
        user_id=user_id,
        kind=body.kind,
        items=items,
        correlation_id=correlation_id,
    )
    await session.commit()
    return created


@router.get("/{batch_id}", response_model=BatchPublic, responses=NOT_FOUND)
async def read(
    batch_id: uuid.UUID,
    user_id: CurrentUser,
    session: SessionDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> BatchPublic:
    """Counts by status, and a page of the jobs in submission order (``next_cursor``)."""
    batch = await service.owned_batch(session, user_id, batch_id)
    if batch is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "batch not found")
    offset = int(cursor) if cursor and cursor.isdigit() else 0
    return await service.batch_view(session, batch, offset=offset, limit=limit)


@router.post("/{batch_id}/cancel", response_model=BatchPublic, responses=NOT_FOUND)
async def cancel(
    batch_id: uuid.UUID, user_id: CurrentUser, session: SessionDep, correlation_id: CorrelationId
) -> BatchPublic:
    """Cancel every job of the batch that has not finished; answers the batch."""
    batch = await service.owned_batch(session, user_id, batch_id)
    if batch is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "batch not found")
    await service.cancel_batch(session, batch, correlation_id)
    await session.commit()
    return await service.batch_view(session, batch, offset=0, limit=100)
