"""A request's input images, resolved for its ``generation.requested`` event: each reference
(an upload id, or ``{"generation", "index"}``) becomes the stored file's key, SHA-256, size and
type, or the request is refused with a 422 naming the field. Only the caller's own uploads
and results resolve: another user's id answers exactly like a missing one."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import sqlalchemy as sa
from fastapi import HTTPException, status
from fastapi.exceptions import RequestValidationError
from sorami_shared.events import InputFile
from sorami_shared.storage import ObjectNotFound, Storage, StorageError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ..uploads import service
from ..uploads.refs import GenerationRef
from .tables import Generation, GenerationFile, Status


def refused(field: str, msg: str, value: Any) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "input_image", "loc": ("body", field), "msg": msg, "input": str(value)}]
    )


async def resolve_inputs(
    engine: AsyncEngine, storage: Storage | None, user_id: str, request: Any
) -> list[InputFile] | None:
    image, mask = getattr(request, "image", None), getattr(request, "mask", None)
    if image is None:
        return None
    async with AsyncSession(engine) as session:
        inputs = [await _resolve(session, storage, user_id, "image", image)]
        if mask is not None:
            got = await _resolve(session, storage, user_id, "mask", mask)
            first = inputs[0]
            if (got.width, got.height) != (first.width, first.height):
                raise refused(
                    "mask",
                    f"the mask is {got.width}x{got.height}: it must be the image's size, "
                    f"{first.width}x{first.height}",
                    mask,
                )
            inputs.append(got)
    return inputs


async def _resolve(
    session: AsyncSession, storage: Storage | None, user_id: str, role: str, ref: Any
) -> InputFile:
    if isinstance(ref, uuid.UUID):
        upload = await service.get(session, user_id, ref)
        if upload is None or upload.status != service.READY or upload.sha256 is None:
            raise refused(role, "no such upload of yours (deleted, expired or not completed)", ref)
        return InputFile(
            role=role,  # type: ignore[arg-type]
            key=upload.key,
            sha256=upload.sha256,
            width=upload.width or 1,
            height=upload.height or 1,
            mime_type=f"image/{upload.format}",
        )
    assert isinstance(ref, GenerationRef)
    row = (
        await session.execute(
            sa.select(GenerationFile)
            .join(Generation, Generation.id == GenerationFile.generation_id)  # type: ignore[arg-type]
            .where(
                Generation.id == ref.generation,
                Generation.user_id == user_id,
                Generation.status == Status.COMPLETED.value,
                GenerationFile.index == ref.index,
            )
        )
    ).scalar_one_or_none()
    if row is None:
        raise refused(role, "no such completed generation of yours with that file index", ref)
    key, mime = (row.poster_key, "image/png") if row.poster_key else (row.key, row.mime_type)
    if not mime.startswith("image/"):
        raise refused(role, "that result is not an image", ref)
    if storage is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "storage unavailable")
    try:
        data = await storage.get(key)
    except ObjectNotFound:
        raise refused(role, "that result's file is gone (deleted or expired)", ref) from None
    except StorageError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "storage unavailable") from None
    return InputFile(
        role=role,  # type: ignore[arg-type]
        key=key,
        sha256=hashlib.sha256(data).hexdigest(),
        width=row.width,
        height=row.height,
        mime_type=mime,
    )
