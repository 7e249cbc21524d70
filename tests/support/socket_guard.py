"""A guard against any test reaching off this machine: ``socket.connect`` (which asyncio's
connections go through too) to an address that is not loopback raises and is recorded, and
the fixture using it fails the test at teardown even if the code under test swallowed the
error. Subprocesses are not covered (they are separate interpreters)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class OffMachineConnect(ConnectionRefusedError):
    """Raised instead of connecting off the machine during a test."""


def _off_machine(sock: socket.socket, address: Any) -> str | None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    host = str(address[0]).split("%", 1)[0]
    if host == "localhost":
        return None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host  # a name resolved inside connect(): not something a test should do
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return None if ip.is_loopback else host


@contextmanager
def guarded() -> Iterator[list[str]]:
    """Within the block, connects off the machine raise; yields the list of those tried."""
    tried: list[str] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guard(real: Callable[..., Any]) -> Callable[..., Any]:
        def connect(self: socket.socket, address: Any) -> Any:
            where = _off_machine(self, address)
            if where is not None:
                tried.append(where)
                raise OffMachineConnect(f"test tried to connect to {where} (off this machine)")
            return real(self, address)

        return connect

    socket.socket.connect = guard(real_connect)  # type: ignore[method-assign]
    socket.socket.connect_ex = guard(real_connect_ex)  # type: ignore[method-assign]
    try:
        yield tried
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
