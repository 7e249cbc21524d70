from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sorami_gateway.infra.cursor import Cursor, InvalidCursor


def test_round_trip():
    cursor = Cursor(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), uuid.uuid4())
    encoded = cursor.encode()
    assert "=" not in encoded and "/" not in encoded
    assert Cursor.decode(encoded) == cursor


@pytest.mark.parametrize(
    "value",
    [
        "",
        "!!!",
        "x" * 300,
        "W10",
        "WyJub3QtYS1kYXRlIiwgIngiXQ",
        # naive timestamp
        Cursor(datetime(2026, 1, 1), uuid.UUID(int=1)).encode(),
    ],
)
def test_malformed(value):
    with pytest.raises(InvalidCursor):
        Cursor.decode(value)
