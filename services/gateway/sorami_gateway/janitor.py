"""The gateway's janitor (runs inside ``sorami-gateway relay``): drains storage deletions and
keeps the event log and tombstones within their windows.

Storage deletions (:mod:`sorami_gateway.storage_deletions`): due orders are claimed with
``FOR UPDATE SKIP LOCKED`` and leased (``next_attempt_at`` pushed ahead) in one short
transaction, so several janitors (one per relay replica) never work on the same order and no
row lock is held during a storage call. A failure records the error and retries with
exponential back-off (``deletion_retry_backoff_s`` .. ``deletion_retry_backoff_max_s``); after
``deletion_max_attempts`` the order is marked ``gave_up_at`` and logged as an error (bounded
retries). Woken by ``NOTIFY`` when an order is scheduled, with a poll as fallback.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import asyncpg
import sqlalchemy as sa
from sorami_shared.logging import get_logger
from sorami_shared.storage import Storage
from sqlalchemy.ext.asyncio import AsyncSession

from . import user_events
from .db import SessionFactory
from .models import OutboxMessage, ProcessedEvent, StorageDeletion
from .settings import GatewaySettings
from .storage_deletions import NOTIFY_CHANNEL
from .wakeups import listening, wait_for_wake
from .webhooks.models import WebhookDelivery

log = get_logger(__name__)

LEASE_S = 120.0
BATCH = 20


class Janitor:
    def __init__(
        self,
        settings: GatewaySettings,
        sessions: SessionFactory,
        storage: Storage,
        *,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.storage = storage
        self.stop = stop or asyncio.Event()
        self._wake = asyncio.Event()

    def backoff_s(self, attempts: int) -> float:
        s = self.settings
        return min(
            s.deletion_retry_backoff_max_s, s.deletion_retry_backoff_s * 2 ** max(0, attempts - 1)
        )

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
            async with self.sessions() as session, session.begin():
                await session.execute(
                    sa.update(StorageDeletion)
                    .where(StorageDeletion.job_id == job_id, StorageDeletion.attempts == attempts)
                    .values(done_at=sa.func.now(), last_error=None)
                )
            log.info("generation files deleted", prefix=prefix, objects=removed, attempt=attempts)
            done += 1
        return done

    async def _failed(self, job_id: object, prefix: str, attempts: int, exc: Exception) -> None:
        give_up = attempts >= self.settings.deletion_max_attempts
        delay = self.backoff_s(attempts)
        values: dict[str, object] = {"last_error": repr(exc)[:2000]}
        if give_up:
            values["gave_up_at"] = sa.func.now()
        else:
            values["next_attempt_at"] = sa.func.now() + timedelta(seconds=delay)
        async with self.sessions() as session, session.begin():
            await session.execute(
                sa.update(StorageDeletion)
                .where(StorageDeletion.job_id == job_id, StorageDeletion.attempts == attempts)
                .values(**values)
            )
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

    async def purge(self) -> None:
        """Events beyond the SSE window; tombstones of long-done deletions; outbox rows
        published long ago and old dedupe records (never an unpublished outbox row); webhook
        deliveries finished long ago (never a pending one)."""
        s = self.settings
        async with self.sessions() as session, session.begin():
            events = await user_events.purge(session, s.events_retention_s)
            cutoff = sa.func.now() - timedelta(seconds=s.deletion_tombstone_retention_s)
            tombstones = (
                await session.execute(
                    sa.delete(StorageDeletion).where(StorageDeletion.done_at < cutoff)
                )
            ).rowcount
            outbox = await _delete_batch(
                session,
                OutboxMessage,
                (OutboxMessage.id,),
                OutboxMessage.published_at,
                s.outbox_retention_s,
            )
            processed = await _delete_batch(
                session,
                ProcessedEvent,
                (ProcessedEvent.consumer, ProcessedEvent.event_id),
                ProcessedEvent.processed_at,
                s.processed_events_retention_s,
            )
            webhooks = await _delete_batch(  # finished deliveries only (a pending one has none)
                session,
                WebhookDelivery,
                (WebhookDelivery.id,),
                WebhookDelivery.finished_at,
                s.webhooks.retention_s,
            )
        if events or tombstones or outbox or processed or webhooks:
            log.info(
                "janitor purged",
                events=events,
                tombstones=tombstones,
                outbox=outbox,
                processed_events=processed,
                webhook_deliveries=webhooks,
            )

    async def run(self) -> None:
        """Until ``stop`` is set; database errors are logged and retried."""
        wakeups = listening(
            self.settings.database_url,
            NOTIFY_CHANNEL,
            wake=self._wake,
            stop=self.stop,
            log=log,
            failed="janitor LISTEN failed; polling",
            lost="janitor LISTEN connection lost",
            name="janitor-listen",
        )
        loop = asyncio.get_running_loop()
        next_purge = loop.time()
        try:
            async with wakeups:
                log.info("janitor running")
                while not self.stop.is_set():
                    self._wake.clear()
                    try:
                        while await self.delete_due() > 0:
                            pass
                        if loop.time() >= next_purge:
                            await self.purge()
                            next_purge = loop.time() + self.settings.janitor_interval_s
                    except (OSError, sa.exc.DBAPIError, asyncpg.PostgresError) as exc:
                        log.warning("janitor: database unavailable", error=repr(exc))
                    await wait_for_wake(
                        self._wake, self.stop, self.settings.deletion_poll_interval_s
                    )
        finally:
            log.info("janitor stopped")


PURGE_BATCH = 5000


async def _delete_batch(
    session: AsyncSession, table: Any, key: tuple[Any, ...], stamp: Any, retention_s: float
) -> int:
    """Delete up to :data:`PURGE_BATCH` rows whose ``stamp`` is older than the window (a NULL
    stamp — an unpublished outbox row — never is); bounded so one purge stays a short
    transaction, the next interval takes the rest."""
    cutoff = sa.func.now() - timedelta(seconds=retention_s)
    oldest = sa.select(*key).where(stamp < cutoff).limit(PURGE_BATCH)
    doomed = sa.tuple_(*key).in_(oldest)
    return (await session.execute(sa.delete(table).where(doomed))).rowcount or 0
