"""Keyset pagination, written once (generations, notifications, ``/v1/videos``): the query
it builds and the cursor of the next page, checked without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import sqlalchemy as sa
from sorami_gateway.generations.tables import Generation
from sorami_gateway.infra.cursor import Cursor, keyset_page, next_cursor
from sqlalchemy.dialects import postgresql

KEY = (Generation.created_at, Generation.id)
AT = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
ID = uuid.UUID("00000000-0000-0000-0000-000000000001")


def sql(query: sa.Select) -> str:
    compiled = query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    return " ".join(str(compiled).split())


def test_the_first_page_is_newest_first_with_one_row_more_than_asked():
    text = sql(keyset_page(sa.select(Generation.id), KEY, after=None, limit=20))
    assert "WHERE" not in text
    assert text.endswith("ORDER BY generations.created_at DESC, generations.id DESC LIMIT 21")


def test_a_later_page_starts_strictly_after_the_cursor_row():
    text = sql(keyset_page(sa.select(Generation.id), KEY, after=(AT, ID), limit=5))
    assert "WHERE (generations.created_at, generations.id) < (" in text
    assert str(ID) in text and "LIMIT 6" in text


def test_oldest_first_pages_go_the_other_way():
    text = sql(
        keyset_page(sa.select(Generation.id), KEY, after=(AT, ID), limit=5, descending=False)
    )
    assert "(generations.created_at, generations.id) > (" in text
    assert "ORDER BY generations.created_at ASC, generations.id ASC" in text


def test_the_next_cursor_points_at_the_last_row_and_only_when_more_follow():
    rows = [SimpleNamespace(created_at=AT, id=uuid.uuid4()), SimpleNamespace(created_at=AT, id=ID)]
    encoded = next_cursor(rows, more=True)
    assert encoded is not None and Cursor.decode(encoded) == Cursor(AT, ID)
    assert next_cursor(rows, more=False) is None
    assert next_cursor([], more=True) is None
