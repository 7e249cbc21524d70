"""The one create flow of ``/v1`` (``images.generate`` and ``videos.create``): read the body
(JSON or multipart), turn it into Sorami's request of that kind, admit it through
:func:`sorami_gateway.generations.admission.admit` (the same limits and ``Idempotency-Key`` as
``/api``), commit.

The official SDK retries a POST on a dropped connection, a timeout or a 5xx, but sends no
idempotency key; it does send ``x-stainless-retry-count`` (0 on the first attempt). A retry
without a key is answered with the job its first attempt stored (see the admission)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Request
from pydantic import BaseModel
from sorami_shared.events import Kind
from sqlalchemy.ext.asyncio import AsyncSession

from ..generations.admission import Admitted, Ask, admit
from ..generations.admission_store import SqlAdmissionStore
from ..generations.requests import GenerateRequestBase, RequestModels, RequestModelsDep
from ..guards.idempotency import IdempotencyKeyHeader
from ..settings import GatewaySettings
from ..web.deps import CorrelationId, CurrentUser, SessionDep, SettingsDep
from .bodies import parse_body

RETRY_COUNT_HEADER = "x-stainless-retry-count"
RetryCount = Annotated[str | None, Header(alias=RETRY_COUNT_HEADER, include_in_schema=False)]

B = TypeVar("B", bound=BaseModel)
Convert = Callable[[B, type[GenerateRequestBase], GatewaySettings], GenerateRequestBase]


def retry_count(value: str | None) -> int:
    try:
        return max(0, int(value)) if value is not None else 0
    except ValueError:
        return 0


@dataclass
class Creation:
    """What a ``/v1`` create needs from its request (one dependency for both routes)."""

    request: Request
    user_id: str
    session: AsyncSession
    settings: GatewaySettings
    request_models: RequestModels
    correlation_id: str
    idempotency_key: str | None
    retries: int

    async def accept(
        self, model: type[B], kind: Kind, convert: Convert[B], scope: str
    ) -> tuple[B, Admitted]:
        """(the parsed body, the admitted job); committed unless it was a replay."""
        s = self.settings
        body = await parse_body(self.request, model, limit=s.max_request_body_bytes)
        ask = Ask(
            user_id=self.user_id,
            kind=kind,
            request=convert(body, self.request_models[kind], s),
            correlation_id=self.correlation_id,
            scope=scope,
            idempotency_key=self.idempotency_key,
            sdk_retry=self.retries > 0,
        )
        admitted = await admit(SqlAdmissionStore(self.session, s), s, ask)
        if not admitted.replayed:
            await self.session.commit()
        return body, admitted


async def creation(
    request: Request,
    user_id: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    request_models: RequestModelsDep,
    correlation_id: CorrelationId,
    idempotency_key: IdempotencyKeyHeader = None,
    retries: RetryCount = None,
) -> Creation:
    return Creation(
        request,
        user_id,
        session,
        settings,
        request_models,
        correlation_id,
        idempotency_key,
        retry_count(retries),
    )


CreationDep = Annotated[Creation, Depends(creation)]
