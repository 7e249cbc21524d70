"""The suite-wide socket guard (tests/conftest.py) refuses a connect off the machine before
any packet leaves, records it, and lets loopback through."""

from __future__ import annotations

import asyncio
import socket

import pytest

from tests.support.socket_guard import OffMachineConnect, guarded


def test_a_connect_to_a_private_or_metadata_address_is_refused_and_recorded():
    with guarded() as tried:
        for address in (("10.1.2.3", 80), ("169.254.169.254", 80), ("192.0.2.1", 443)):
            with socket.socket() as s, pytest.raises(OffMachineConnect):
                s.connect(address)
        with socket.socket(socket.AF_INET6) as s, pytest.raises(OffMachineConnect):
            s.connect_ex(("::ffff:10.0.0.1", 80, 0, 0))
    assert tried == ["10.1.2.3", "169.254.169.254", "192.0.2.1", "::ffff:10.0.0.1"]


async def test_asyncio_connections_go_through_the_guard_and_loopback_passes():
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with guarded() as tried:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
        with pytest.raises(OffMachineConnect):
            await asyncio.open_connection("10.9.8.7", port)
    server.close()
    assert tried == ["10.9.8.7"]
