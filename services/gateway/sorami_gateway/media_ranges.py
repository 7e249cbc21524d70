"""HTTP byte ranges (RFC 9110 §14) for ``/media``: Safari and iOS play an mp4 in a ``<video>``
only from a server that answers ``Range: bytes=...`` with 206, and every browser seeks with it.
One range per request (what media elements send); anything else gets the whole file."""

from __future__ import annotations

import re

_SINGLE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


class RangeNotSatisfiable(ValueError):
    pass


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(first, last)`` inclusive for a satisfiable single range; None for no (or an
    unsupported, e.g. multi-) range, i.e. answer the whole file."""
    match = _SINGLE.match(header) if header else None
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        n = int(last)
        if n == 0:
            raise RangeNotSatisfiable(header)
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise RangeNotSatisfiable(header)
    return start, end
