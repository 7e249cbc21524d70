"""The reads and writes of :func:`sorami_gateway.generations.admission.admit`, in the
caller's transaction (PostgreSQL), and the admission as the create routes run it."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ..guards import idempotency, limits
from ..settings import GatewaySettings
from .admission import Admitted, Ask, admit
from .service import count_unfinished, create_generation
from .tables import Generation


class SqlAdmissionStore:
    def __init__(self, session: AsyncSession, settings: GatewaySettings) -> None:
        self.session = session
        self.settings = settings

    async def lock_quota(self, user_id: str) -> limits.UserQuota:
        return await limits.lock_quota(self.session, user_id)

    async def stored_answer(self, ask: Ask, fingerprint: str) -> idempotency.StoredResponse | None:
        assert ask.idempotency_key is not None
        return await idempotency.find(
            self.session,
            user_id=ask.user_id,
            scope=ask.scope,
            key=ask.idempotency_key,
            fingerprint=fingerprint,
        )

    async def earlier_attempt(self, ask: Ask) -> uuid.UUID | None:
        """The newest job of this user with the same parameters (seed aside, when the gateway
        picked it) created within ``openai_retry_window_s``."""
        params = ask.request.to_params().model_dump(mode="json")
        if getattr(ask.request, "seed", None) is None:
            params.pop("seed")  # picked by the gateway: it differs between attempts
        since = sa.func.clock_timestamp() - timedelta(seconds=self.settings.openai_retry_window_s)
        return (
            await self.session.execute(
                sa.select(Generation.id)
                .where(
                    Generation.user_id == ask.user_id,
                    Generation.kind == ask.kind.value,
                    Generation.created_at > since,
                    Generation.params.contains(params),  # type: ignore[attr-defined]
                )
                .order_by(Generation.created_at.desc(), Generation.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()

    async def count_unfinished(self, user_id: str) -> int:
        return await count_unfinished(self.session, user_id)

    async def record_create(self, user_id: str, window: list[datetime]) -> None:
        await limits.record_create(self.session, user_id, window)

    async def create(self, ask: Ask) -> uuid.UUID:
        return await create_generation(
            self.session,
            user_id=ask.user_id,
            kind=ask.kind,
            request=ask.request,
            correlation_id=ask.correlation_id,
        )

    async def remember(self, ask: Ask, fingerprint: str, admitted: Admitted) -> None:
        assert ask.idempotency_key is not None
        await idempotency.remember(
            self.session,
            user_id=ask.user_id,
            scope=ask.scope,
            key=ask.idempotency_key,
            fingerprint=fingerprint,
            job_id=admitted.job_id,
            status_code=admitted.status_code,
            body=admitted.body,
            ttl_s=self.settings.idempotency_key_ttl_s,
        )


async def admit_in_transaction(
    session: AsyncSession, settings: GatewaySettings, ask: Ask
) -> Admitted:
    """:func:`admit` against PostgreSQL; commits what it created (a replay created nothing)."""
    admitted = await admit(SqlAdmissionStore(session, settings), settings, ask)
    if not admitted.replayed:
        await session.commit()
    return admitted
