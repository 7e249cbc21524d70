"""SSRF guard: where a webhook may connect.

A webhook URL is chosen by a user, so the gateway must not become their way into its own
network. Every attempt resolves the host (and again after each redirect) through a
:class:`Resolver`, and refuses unless EVERY address it resolves to is global (not loopback,
private, link-local — which holds the cloud metadata address 169.254.169.254 —, shared,
multicast, reserved or unspecified; IPv4-mapped IPv6 is judged as the IPv4 it maps) or inside
the explicit allow-list. The connection then goes to the address that was checked (never
resolved again), so a DNS answer that changes between check and connect cannot slip through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from typing import Protocol

from .settings import Network

IP = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The URL may not be called; the message names the host and the address, never more."""


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> list[str]: ...


class SystemResolver:
    async def resolve(self, host: str, port: int) -> list[str]:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        return list(dict.fromkeys(str(info[4][0]) for info in infos))


class AddressPolicy:
    def __init__(self, allowed: Sequence[Network] = ()) -> None:
        self.allowed = list(allowed)

    def refusal(self, address: str) -> str | None:
        """Why ``address`` may not be reached (None: it may)."""
        ip: IP = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip.version == net.version and ip in net for net in self.allowed):
            return None
        if ip.is_global and not ip.is_multicast:
            return None
        for name in ("loopback", "link_local", "private", "multicast", "reserved", "unspecified"):
            if getattr(ip, f"is_{name}"):
                return f"{name.replace('_', '-')} address"
        return "non-global address"


async def checked_address(resolver: Resolver, policy: AddressPolicy, host: str, port: int) -> str:
    """The address to connect to for ``host``; :class:`Refused` if any it resolves to is
    forbidden, or none."""
    try:
        addresses = [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        try:
            addresses = await resolver.resolve(host, port)
        except OSError as exc:
            raise Refused(f"{host} does not resolve ({exc.strerror or exc})") from None
    if not addresses:
        raise Refused(f"{host} does not resolve")
    for address in addresses:
        reason = policy.refusal(address)
        if reason is not None:
            raise Refused(f"{host} resolves to {address}, a {reason}, outside the allow-list")
    return addresses[0]
