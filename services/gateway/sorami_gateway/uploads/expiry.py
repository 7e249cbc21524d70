"""The janitor's part for uploads: expired (or deleted) uploads leave storage, then the table.

A storage failure leaves the row in place (still expired, so invisible and off the quota):
the next pass retries it."""

from __future__ import annotations

from sorami_shared.logging import get_logger
from sorami_shared.storage import Storage, StorageError

from ..infra.db import SessionFactory
from . import service

log = get_logger(__name__)


async def remove_expired(sessions: SessionFactory, storage: Storage, *, batch: int) -> int:
    """One pass: up to ``batch`` expired uploads removed; returns how many."""
    async with sessions() as session, session.begin():
        due = await service.due(session, batch)
        removed = []
        for upload_id in due:
            try:
                await storage.delete_prefix(service.prefix_of(upload_id))
            except StorageError as exc:
                log.warning(
                    "upload files not deleted yet", upload_id=str(upload_id), error=str(exc)
                )
                continue
            removed.append(upload_id)
        if removed:
            await service.forget(session, removed)
    if removed:
        log.info("expired uploads removed", count=len(removed))
    return len(removed)
