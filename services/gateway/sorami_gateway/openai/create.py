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

from ..generations.admission import Admitted
from ..generations.creation import Creator, CreatorDep
from ..generations.requests import GenerateRequestBase
from ..settings import GatewaySettings
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
    creator: Creator
    retries: int

    async def accept(
        self, model: type[B], kind: Kind, convert: Convert[B], scope: str
    ) -> tuple[B, Admitted]:
        """(the parsed body, the admitted job); committed unless it was a replay."""
        c = self.creator
        body = await parse_body(self.request, model, limit=c.settings.max_request_body_bytes)
        sorami_request = convert(body, c.request_models[kind], c.settings)
        return body, await c.admit(kind, sorami_request, scope, sdk_retry=self.retries > 0)


async def creation(request: Request, creator: CreatorDep, retries: RetryCount = None) -> Creation:
    return Creation(request, creator, retry_count(retries))


CreationDep = Annotated[Creation, Depends(creation)]
