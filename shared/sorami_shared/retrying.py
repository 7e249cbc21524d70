"""Waiting for a dependency at start: try, and on failure wait 0.5 s, 1 s, 2 s... (5 s at
most) until it answers or ``retry_for`` seconds of waiting are spent."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def retry_until_up(
    attempt: Callable[[], Awaitable[T]],
    *,
    retry_for: float | None,
    errors: tuple[type[BaseException], ...],
    log: Any,
    unreachable: str,
) -> T:
    """``attempt()``'s result; ``errors`` are logged as ``unreachable`` and retried. None for
    ``retry_for`` means one try; once the time is spent, the last error is raised."""
    delay, waited = 0.5, 0.0
    while True:
        try:
            return await attempt()
        except errors as exc:
            if retry_for is None or waited >= retry_for:
                raise
            log.warning(unreachable, error=str(exc), in_s=delay)
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 5.0)
