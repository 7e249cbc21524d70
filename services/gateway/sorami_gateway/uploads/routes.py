"""``/api/uploads``: a user's images, to use as inputs of their jobs.

``POST /api/uploads`` (multipart/form-data, part ``file``) checks the image
(:mod:`.images`), reserves its bytes under the user's quota, stores it, and answers its id,
size, format and SHA-256. With S3 storage a client may instead send the file straight to
storage (:mod:`.direct`). Another user's upload answers 404 exactly like a missing one."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from sorami_shared.logging import get_logger
from sorami_shared.storage import Storage, StorageError

from ..infra.cursor import next_cursor
from ..media.urls import MediaUrls, MediaUrlsDep, StorageDep
from ..rest.deps import CurrentUser, CursorQuery, SessionDep, SettingsDep, page_cursor
from ..rest.errors import UNAUTHENTICATED
from . import service
from .body import MULTIPART_BODY, read_file, refusal
from .images import ImageRefused, check_image
from .schemas import UploadPage, UploadPublic
from .store import store_upload
from .tables import Upload

log = get_logger(__name__)
router = APIRouter(prefix="/api/uploads", tags=["uploads"], responses=UNAUTHENTICATED)
NOT_FOUND = {404: {"description": "No such upload for this user (or it expired)"}}
REFUSED = {
    400: {"description": "Malformed multipart body"},
    413: {"description": "The file is over the size cap, or the user's upload quota is full"},
    415: {"description": "Not multipart/form-data, or not a PNG, JPEG or WebP image"},
    422: {"description": "Not a usable image (too many pixels, truncated, animated...)"},
}


def quota_refusal(exc: service.QuotaExceeded) -> HTTPException:
    return refusal(
        413,
        f"upload quota exceeded: {exc.used} of {exc.quota} bytes in use; delete uploads "
        "or wait for them to expire",
        "quota",
    )


async def public(upload: Upload, urls: MediaUrls) -> UploadPublic:
    ready = upload.status == service.READY
    return UploadPublic(
        upload_id=upload.id,
        status=upload.status,
        format=upload.format,
        mime_type=f"image/{upload.format}" if upload.format else None,
        width=upload.width,
        height=upload.height,
        bytes=upload.bytes,
        sha256=upload.sha256,
        created_at=upload.created_at or datetime.now(UTC),
        expires_at=upload.expires_at,
        url=await urls.url(upload.key) if ready else None,
    )


def required_storage(storage: Storage | None) -> Storage:
    """The storage, or 503 while it cannot be reached."""
    if storage is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "storage unavailable")
    return storage


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UploadPublic,
    openapi_extra=MULTIPART_BODY,
    responses=REFUSED,
)
async def create_upload(
    request: Request,
    user_id: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    urls: MediaUrlsDep,
) -> UploadPublic:
    """Store an image (PNG, JPEG or WebP, from its content) for later jobs."""
    limits = settings.uploads
    data, lifetime = await read_file(request, limits.max_bytes, limits.ttl_s)
    try:
        checked = await asyncio.to_thread(check_image, data, max_pixels=limits.max_pixels)
    except ImageRefused as exc:
        raise refusal(exc.status, exc.reason, "image") from None
    try:
        row = await store_upload(
            session, required_storage(storage), limits, user_id, checked, ttl_s=lifetime
        )
    except service.QuotaExceeded as exc:
        raise quota_refusal(exc) from None
    except StorageError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "storage unavailable") from None
    return await public(row, urls)


@router.get("", response_model=UploadPage)
async def list_uploads(
    user_id: CurrentUser,
    session: SessionDep,
    urls: MediaUrlsDep,
    cursor: CursorQuery = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> UploadPage:
    """The caller's live uploads, newest first."""
    rows, more = await service.page(session, user_id, after=page_cursor(cursor), limit=limit)
    return UploadPage(
        items=[await public(r, urls) for r in rows], next_cursor=next_cursor(rows, more)
    )


@router.get("/{upload_id}", response_model=UploadPublic, responses=NOT_FOUND)
async def get_upload(
    upload_id: uuid.UUID, user_id: CurrentUser, session: SessionDep, urls: MediaUrlsDep
) -> UploadPublic:
    row = await service.get(session, user_id, upload_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "upload not found")
    return await public(row, urls)


@router.delete("/{upload_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def delete_upload(
    upload_id: uuid.UUID, user_id: CurrentUser, session: SessionDep
) -> Response:
    """Delete an upload (its file leaves storage shortly; jobs made from it keep their
    results)."""
    if not await service.expire_now(session, user_id, upload_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "upload not found")
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
