"""What a 422 may echo of the client's input: JSON-safe and bounded.

A validation error carries the offending input. Echoed as is, ``NaN``/``Infinity`` cannot be
rendered as JSON (the answer became a 500), and a 10,000-character prompt came back whole.
Here non-finite numbers become strings (``"nan"``, ``"inf"``), strings are cut to
``MAX_ECHO_CHARS``, containers to ``MAX_ECHO_ITEMS`` items and ``MAX_DEPTH`` levels.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

MAX_ECHO_CHARS = 200
MAX_ECHO_ITEMS = 20
MAX_DEPTH = 4
TRUNCATED = "…"


def bounded(value: Any, depth: int = 0) -> Any:
    """``value`` made JSON-safe and short enough to echo."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= 64 else "<integer too large>"
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes | bytearray):
        value = bytes(value[: MAX_ECHO_CHARS * 4]).decode("utf-8", "replace")
    if isinstance(value, str):
        return value if len(value) <= MAX_ECHO_CHARS else value[:MAX_ECHO_CHARS] + TRUNCATED
    if depth >= MAX_DEPTH:
        return TRUNCATED
    if isinstance(value, dict):
        items = list(value.items())
        out = {bounded(str(k)): bounded(v, depth + 1) for k, v in items[:MAX_ECHO_ITEMS]}
        if len(items) > MAX_ECHO_ITEMS:
            out[TRUNCATED] = f"{len(items) - MAX_ECHO_ITEMS} more"
        return out
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        out_list = [bounded(v, depth + 1) for v in items[:MAX_ECHO_ITEMS]]
        if len(items) > MAX_ECHO_ITEMS:
            out_list.append(TRUNCATED)
        return out_list
    return bounded(str(value), depth)


def safe_errors(errors: Iterable[Any]) -> list[dict[str, Any]]:
    """Validation errors (pydantic's or FastAPI's) ready for a JSON 422 body."""
    safe = []
    for error in errors:
        error = dict(error)
        for field in ("input", "ctx", "loc"):
            if field in error:
                error[field] = bounded(error[field])
        safe.append(error)
    return safe
