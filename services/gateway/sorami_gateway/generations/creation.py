"""What every create route needs to admit a generation, as one dependency: ``/api``'s
``POST /{kind}/generate`` and ``/v1``'s two creates declare :data:`CreatorDep` and call
:meth:`Creator.admit`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sorami_shared.events import Kind
from sorami_shared.storage import Storage
from sqlalchemy.ext.asyncio import AsyncEngine

from ..guards.idempotency import IdempotencyKeyHeader
from ..media.urls import StorageDep
from ..rest.deps import CorrelationId, CurrentUser, EngineDep, SettingsDep
from ..settings import GatewaySettings
from .admission import Admitted, Ask, admit
from .inputs import resolve_inputs
from .lifetimes import lifetime_s
from .requests import GenerateRequestBase, RequestModels, RequestModelsDep


@dataclass
class Creator:
    user_id: str
    engine: AsyncEngine
    settings: GatewaySettings
    request_models: RequestModels
    correlation_id: str
    idempotency_key: str | None
    storage: Storage | None = None

    async def admit(
        self, kind: Kind, request: GenerateRequestBase, scope: str, *, sdk_retry: bool = False
    ) -> Admitted:
        """Admit and commit (see :func:`~sorami_gateway.generations.admission.admit`)."""
        lifetime = lifetime_s(self.settings, request)
        inputs = await resolve_inputs(self.engine, self.storage, self.user_id, request)
        ask = Ask(
            self.user_id,
            kind,
            request,
            self.correlation_id,
            scope,
            self.idempotency_key,
            sdk_retry,
            inputs,
            lifetime,
        )
        return await admit(self.engine, self.settings, ask)


async def creator(
    user_id: CurrentUser,
    engine: EngineDep,
    settings: SettingsDep,
    request_models: RequestModelsDep,
    correlation_id: CorrelationId,
    storage: StorageDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Creator:
    return Creator(
        user_id, engine, settings, request_models, correlation_id, idempotency_key, storage
    )


CreatorDep = Annotated[Creator, Depends(creator)]
