"""sorami_shared.process.run: a service's loop is uvloop's, asyncio's own when
SORAMI_EVENT_LOOP=asyncio asks for it; either way the coroutine's result comes back."""

from __future__ import annotations

import asyncio

import pytest
from sorami_shared.process import run


async def _loop_class() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__


def test_uvloop_by_default_and_asyncio_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SORAMI_EVENT_LOOP", raising=False)
    assert run(_loop_class()).startswith("uvloop")
    monkeypatch.setenv("SORAMI_EVENT_LOOP", "asyncio")
    assert run(_loop_class()).startswith("asyncio")
