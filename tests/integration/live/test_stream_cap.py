"""The cap on open event streams per user (``max_streams_per_user``), on a real HTTP server:
the (N+1)th stream of one user is a 429 that says why; other users are unaffected; a closed
stream gives its slot back."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest

from tests.integration.gateway.conftest import make_token
from tests.support.sse import sse_stream

from .conftest import serving

pytestmark = pytest.mark.timeout(90)

CAP = 3


async def _open_one_more(base_url: str, user: str) -> httpx.Response:
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=10) as http,
        http.stream(
            "GET", "/api/events", headers={"Authorization": f"Bearer {make_token(user)}"}
        ) as response,
    ):
        if response.status_code != 200:
            await response.aread()
        return response


async def test_the_next_stream_beyond_the_cap_is_429_and_others_are_unaffected(make_settings):
    settings = make_settings(max_streams_per_user=CAP)
    async with serving(settings) as url, contextlib.AsyncExitStack() as streams:
        for _ in range(CAP):
            await streams.enter_async_context(sse_stream(url, token=make_token("alice")))
        refused = await _open_one_more(url, "alice")
        assert refused.status_code == 429
        assert refused.headers["retry-after"]
        assert f"at most {CAP} per user" in refused.json()["detail"]
        # another user still gets all of theirs
        async with contextlib.AsyncExitStack() as bobs:
            for _ in range(CAP):
                bob = await bobs.enter_async_context(sse_stream(url, token=make_token("bob")))
                assert bob.status_code == 200
    # every stream closed: alice's slots are back (the server notices the disconnects)
    async with serving(settings) as url:
        async with contextlib.AsyncExitStack() as streams:
            for _ in range(CAP):
                await streams.enter_async_context(sse_stream(url, token=make_token("alice")))
        for _ in range(50):  # the closed streams' ends reach the server
            response = await _open_one_more(url, "alice")
            if response.status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert response.status_code == 200
