"""Keyset pagination, written once: opaque cursors over ``(created_at, id)`` and the page
query every listing uses (generations, notifications, ``/v1/videos``)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        raw = json.dumps([self.created_at.isoformat(), str(self.id)], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        if not value or len(value) > 200:
            raise InvalidCursor("malformed cursor")
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            created_at, ident = json.loads(raw)
            parsed = datetime.fromisoformat(created_at)
            if parsed.tzinfo is None:
                raise ValueError("naive timestamp")
            return cls(parsed, uuid.UUID(ident))
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
            raise InvalidCursor("malformed cursor") from exc


def keyset_page(
    query: Select[Any],
    key: tuple[Any, Any],
    *,
    after: tuple[Any, Any] | None,
    limit: int,
    descending: bool = True,
) -> Select[Any]:
    """``query`` ordered by ``key`` (e.g. ``(created_at, id)``), starting after the row whose
    key is ``after``, one row more than ``limit`` (that row only says whether more follow)."""
    columns = sa.tuple_(*key)
    if after is not None:
        bound = sa.tuple_(*(sa.literal(value) for value in after))
        query = query.where(columns < bound if descending else columns > bound)
    order = [c.desc() if descending else c.asc() for c in key]
    return query.order_by(*order).limit(limit + 1)


async def fetch_page(
    session: AsyncSession,
    query: Select[Any],
    key: tuple[Any, Any],
    *,
    after: tuple[Any, Any] | None,
    limit: int,
    descending: bool = True,
) -> tuple[list[Any], bool]:
    """One page of ``query`` by :func:`keyset_page`: (rows, True when more follow)."""
    page = keyset_page(query, key, after=after, limit=limit, descending=descending)
    rows = list((await session.execute(page)).scalars())
    return rows[:limit], len(rows) > limit


def next_cursor(rows: list[Any], more: bool) -> str | None:
    """The opaque cursor of the page after ``rows`` (newest first by created_at, id)."""
    return Cursor(rows[-1].created_at, rows[-1].id).encode() if more and rows else None
