"""``GET /api/generations``: the caller's images and videos together (the web gallery),
newest first, with the item shape and keyset paging of ``GET /api/{kind}/user``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sorami_shared.events import Kind

from ..schemas import GenerationPage
from ..services import generations
from .deps import Context, CurrentUser, CursorQuery, SessionDep, page_cursor
from .errors import UNAUTHENTICATED

router = APIRouter(prefix="/api", tags=["generations"], responses=UNAUTHENTICATED)


@router.get("/generations", response_model=GenerationPage)
async def all_history(
    user_id: CurrentUser,
    session: SessionDep,
    context: Context,
    kind: Kind | None = None,
    cursor: CursorQuery = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> GenerationPage:
    """The caller's generations of every kind (or of `kind`: `image` | `video`), newest
    first."""
    return await generations.history_page(
        session,
        user_id=user_id,
        kind=kind,
        cursor=page_cursor(cursor),
        limit=limit,
        urls=context.media_urls,
    )
