"""sorami_shared.process.run: a service's loop is asyncio's, uvloop's when
SORAMI_EVENT_LOOP=uvloop asks for it; either way the coroutine's result comes back."""

from __future__ import annotations

import asyncio

import pytest
from sorami_shared.process import run


async def _loop_class() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__


def test_asyncio_by_default_and_uvloop_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SORAMI_EVENT_LOOP", raising=False)
    assert run(_loop_class()).startswith("asyncio")
    monkeypatch.setenv("SORAMI_EVENT_LOOP", "uvloop")
    assert run(_loop_class()).startswith("uvloop")
