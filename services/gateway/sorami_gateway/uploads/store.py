"""Storing a checked image as the user's upload: reserve its bytes under the quota (a
``pending`` row, committed), write the file, mark it ``ready``. Used by ``POST /api/uploads``
and by ``/v1/images/edits`` (whose files become uploads too)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sorami_shared.logging import get_logger
from sorami_shared.storage import Storage, StorageError
from sqlalchemy.ext.asyncio import AsyncSession

from ..upload_settings import UploadSettings
from . import service
from .images import CheckedImage
from .tables import Upload

log = get_logger(__name__)


async def store_upload(
    session: AsyncSession,
    storage: Storage,
    limits: UploadSettings,
    user_id: str,
    checked: CheckedImage,
    *,
    ttl_s: int | None = None,
) -> Upload:
    """The stored upload, kept ``ttl_s`` (default: the upload TTL); raises
    :class:`service.QuotaExceeded` or ``StorageError``."""
    upload_id = uuid.uuid4()
    row = Upload(
        id=upload_id,
        user_id=user_id,
        status=service.PENDING,  # counts against the quota while the file is written
        key=service.key_of(upload_id, checked.format),
        format=checked.format,
        width=checked.width,
        height=checked.height,
        bytes=len(checked.data),
        sha256=checked.sha256,
        created_at=datetime.now(UTC),
        expires_at=service.expiry(limits.presign_ttl_s),  # a crash here: the janitor cleans
    )
    await service.reserve(session, row, quota=limits.quota_bytes)
    await session.commit()
    try:
        await storage.put(row.key, checked.data, checked.mime_type)
    except StorageError as exc:
        log.error("upload not stored", upload_id=str(upload_id), error=str(exc))
        await service.expire_now(session, user_id, upload_id)
        await session.commit()
        raise
    row.status, row.expires_at = service.READY, service.expiry(ttl_s or limits.ttl_s)
    session.add(row)
    await session.commit()
    log.info("upload stored", upload_id=str(upload_id), bytes=row.bytes, format=row.format)
    return row
