"""Byte ranges for /media: what media elements send, and what is not satisfiable."""

from __future__ import annotations

import pytest
from sorami_gateway.media_ranges import RangeNotSatisfiable, byte_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-", (0, 99)),  # what Chrome sends first
        ("bytes=0-1", (0, 1)),  # what Safari sends first
        ("bytes=10-19", (10, 19)),
        ("bytes=90-500", (90, 99)),  # clipped to the end
        ("bytes=-10", (90, 99)),  # the last ten bytes
        ("bytes=-500", (0, 99)),
        ("bytes=0-1,5-6", None),  # several ranges: the whole file
        ("items=0-1", None),
        ("bytes=-", None),
    ],
)
def test_ranges(header: str | None, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=150-200", "bytes=20-10", "bytes=-0"])
def test_unsatisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        byte_range(header, 100)
