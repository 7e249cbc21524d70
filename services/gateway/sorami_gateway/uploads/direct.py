"""Direct uploads (S3 storage): the file goes from the client straight to storage.

1. ``POST /api/uploads/direct {"bytes": N}`` reserves N bytes of the user's quota (a
   ``pending`` upload) and answers a presigned PUT URL signed for exactly N bytes;
2. the client PUTs the file there before ``expires_at``;
3. ``POST /api/uploads/{id}/complete`` reads it back, checks it as ``POST /api/uploads`` does
   (:mod:`.images`), stores it upright as ``upload/{id}/source.{ext}`` and answers it
   ``ready``. A refused file is deleted with its upload. Never completed: the janitor removes
   it when the URL's life is over. With local storage there is no direct upload (409)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import ValidationError
from sorami_shared.storage import ObjectNotFound, Storage, StorageError

from ..media.urls import MediaUrlsDep, StorageDep
from ..rest.bodies import read_json_body
from ..rest.deps import CurrentUser, SessionDep, SettingsDep
from ..rest.errors import UNAUTHENTICATED, body_validation_error
from . import service
from .body import refusal, too_large
from .images import ImageRefused, check_image
from .routes import NOT_FOUND, public, quota_refusal, required_storage
from .schemas import DirectUpload, DirectUploadRequest, UploadPublic
from .tables import Upload

router = APIRouter(prefix="/api/uploads", tags=["uploads"], responses=UNAUTHENTICATED)
LOCAL = {409: {"description": "Storage is local: send the file to POST /api/uploads"}}


@router.post(
    "/direct",
    status_code=status.HTTP_201_CREATED,
    response_model=DirectUpload,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": DirectUploadRequest.model_json_schema()}},
        }
    },
    responses={
        **LOCAL,
        413: {"description": "Over the size cap, or the upload quota is full"},
        422: {"description": "Invalid body; `detail[].loc` names the field"},
    },
)
async def start_direct_upload(
    request: Request,
    user_id: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    urls: MediaUrlsDep,
) -> DirectUpload:
    """A presigned PUT URL for one file of exactly `bytes` bytes (S3 storage only)."""
    body = await read_json_body(request, 4096)
    try:
        asked = DirectUploadRequest.model_validate_json(body or b"null")
    except ValidationError as exc:
        raise body_validation_error(exc) from None
    limits = settings.uploads
    if asked.bytes > limits.max_bytes:
        raise refusal(
            413, f"the file is larger than {limits.max_bytes} bytes", "too_large", "bytes"
        )
    if settings.storage_backend == "local":
        raise HTTPException(409, "storage is local: send the file to POST /api/uploads")
    store = required_storage(storage)
    upload_id = uuid.uuid4()
    row = Upload(
        id=upload_id,
        user_id=user_id,
        status=service.PENDING,
        key=service.key_of(upload_id, None),
        bytes=asked.bytes,
        created_at=datetime.now(UTC),
        expires_at=service.expiry(limits.presign_ttl_s),
    )
    try:
        await service.reserve(session, row, quota=limits.quota_bytes)
    except service.QuotaExceeded as exc:
        raise quota_refusal(exc) from None
    try:
        url = await store.presigned_put_url(
            row.key, limits.presign_ttl_s, content_length=asked.bytes
        )
    except StorageError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "storage unavailable") from None
    await session.commit()
    base = settings.public_base_url.rstrip("/")
    return DirectUpload(
        upload=await public(row, urls),
        upload_url=url or "",
        headers={"Content-Length": str(asked.bytes)},
        complete_url=f"{base}/api/uploads/{upload_id}/complete",
    )


@router.post(
    "/{upload_id}/complete",
    response_model=UploadPublic,
    responses={
        **NOT_FOUND,
        409: {"description": "The file was not PUT yet"},
        413: {"description": "The file stored is over the size cap"},
        415: {"description": "Not a PNG, JPEG or WebP image (the upload is deleted)"},
        422: {"description": "Not a usable image (the upload is deleted)"},
    },
)
async def complete_direct_upload(
    upload_id: uuid.UUID,
    user_id: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    urls: MediaUrlsDep,
) -> UploadPublic:
    """Check the file PUT to the direct upload's URL and make it usable (idempotent)."""
    row = await service.get(session, user_id, upload_id, lock=True)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "upload not found")
    if row.status == service.READY:
        return await public(row, urls)
    store, limits = required_storage(storage), settings.uploads
    try:
        if await store.size(row.key) > limits.max_bytes:
            await _drop(session, store, row)
            raise too_large(limits.max_bytes)
        data = await store.get(row.key)
        checked = await asyncio.to_thread(check_image, data, max_pixels=limits.max_pixels)
    except ObjectNotFound:
        raise HTTPException(status.HTTP_409_CONFLICT, "the file was not PUT yet") from None
    except StorageError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "storage unavailable") from None
    except ImageRefused as exc:
        await _drop(session, store, row)
        raise refusal(exc.status, exc.reason, "image") from None
    key = service.key_of(upload_id, checked.format)
    try:
        await store.put(key, checked.data, checked.mime_type)
        await store.delete_prefix(row.key)
    except StorageError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "storage unavailable") from None
    row.status, row.key, row.format = service.READY, key, checked.format
    row.width, row.height, row.bytes = checked.width, checked.height, len(checked.data)
    row.sha256, row.expires_at = checked.sha256, service.expiry(limits.ttl_s)
    session.add(row)
    await session.commit()
    return await public(row, urls)


async def _drop(session: SessionDep, store: Storage, row: Upload) -> None:
    """A refused file: gone now (the janitor retries the file if storage fails)."""
    row.expires_at = datetime.now(UTC)
    session.add(row)
    await session.commit()
    try:
        await store.delete_prefix(service.prefix_of(row.id))
    except StorageError:
        pass
