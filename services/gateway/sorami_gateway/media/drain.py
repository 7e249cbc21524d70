"""Draining storage deletions (:mod:`sorami_gateway.media.deletions`); the janitor's loop
(:mod:`sorami_gateway.workers.janitor`) runs it.

Due orders are claimed with ``FOR UPDATE SKIP LOCKED`` and leased (``next_attempt_at`` pushed
ahead) in one short transaction, so several janitors (one per relay replica) never work on the
same order and no row lock is held during a storage call. A failure records the error and
retries with exponential back-off (``deletion_retry_backoff_s`` ..
``deletion_retry_backoff_max_s``); after ``deletion_max_attempts`` the order is marked
``gave_up_at`` and logged as an error (bounded retries).
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sorami_shared.logging import get_logger
from sorami_shared.storage import Storage
from sqlalchemy.ext.asyncio import AsyncSession

from ..infra.db import SessionFactory
from ..settings import GatewaySettings
from .tables import StorageDeletion

log = get_logger(__name__)

LEASE_S = 120.0
BATCH = 20


def backoff_s(settings: GatewaySettings, attempts: int) -> float:
    """The wait before the next attempt after ``attempts`` failed ones."""
    return min(
        settings.deletion_retry_backoff_max_s,
        settings.deletion_retry_backoff_s * 2 ** max(0, attempts - 1),
    )


class DeletionDrain:
    def __init__(self, settings: GatewaySettings, sessions: SessionFactory, storage: Storage):
        self.settings = settings
        self.sessions = sessions
        self.storage = storage

    async def _claim(self) -> list[tuple[object, str, int]]:
        async with self.sessions() as session, session.begin():
            due = (
                sa.select(StorageDeletion.job_id)
                .where(
                    StorageDeletion.done_at.is_(None),  # type: ignore[union-attr]
                    StorageDeletion.gave_up_at.is_(None),  # type: ignore[union-attr]
                    StorageDeletion.next_attempt_at <= sa.func.now(),
                )
                .order_by(StorageDeletion.next_attempt_at)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
            rows = (
                await session.execute(
                    sa.update(StorageDeletion)
                    .where(StorageDeletion.job_id.in_(due.scalar_subquery()))  # type: ignore[attr-defined]
                    .values(
                        attempts=StorageDeletion.attempts + 1,
                        next_attempt_at=sa.func.now() + timedelta(seconds=LEASE_S),
                    )
                    .returning(
                        StorageDeletion.job_id, StorageDeletion.prefix, StorageDeletion.attempts
                    )
                )
            ).all()
        return [(r.job_id, r.prefix, r.attempts) for r in rows]

    async def delete_due(self) -> int:
        """One pass; returns how many orders completed."""
        done = 0
        for job_id, prefix, attempts in await self._claim():
            try:
                removed = await self.storage.delete_prefix(prefix)
            except Exception as exc:  # noqa: BLE001 - any storage failure is retried
                await self._failed(job_id, prefix, attempts, exc)
                continue
            await self._update(job_id, attempts, done_at=sa.func.now(), last_error=None)
            log.info("generation files deleted", prefix=prefix, objects=removed, attempt=attempts)
            done += 1
        return done

    async def _update(self, job_id: object, attempts: int, **values: object) -> None:
        """Record an attempt's outcome, unless another janitor took the order over since."""
        async with self.sessions() as session, session.begin():
            await session.execute(
                sa.update(StorageDeletion)
                .where(StorageDeletion.job_id == job_id, StorageDeletion.attempts == attempts)
                .values(**values)
            )

    async def _failed(self, job_id: object, prefix: str, attempts: int, exc: Exception) -> None:
        give_up = attempts >= self.settings.deletion_max_attempts
        delay = backoff_s(self.settings, attempts)
        values: dict[str, object] = {"last_error": repr(exc)[:2000]}
        if give_up:
            values["gave_up_at"] = sa.func.now()
        else:
            values["next_attempt_at"] = sa.func.now() + timedelta(seconds=delay)
        await self._update(job_id, attempts, **values)
        if give_up:
            log.error("gave up deleting files", prefix=prefix, attempts=attempts, error=repr(exc))
        else:
            log.warning(
                "deleting files failed; will retry",
                prefix=prefix,
                attempt=attempts,
                in_s=delay,
                error=repr(exc),
            )


async def purge_tombstones(session: AsyncSession, retention_s: float) -> int:
    """Orders done longer ago than the window (a DELETE of them answers 404 afterwards)."""
    cutoff = sa.func.now() - timedelta(seconds=retention_s)
    result = await session.execute(
        sa.delete(StorageDeletion).where(StorageDeletion.done_at < cutoff)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
