"""A loopback PostgreSQL wire proxy that counts round trips per client connection.

It forwards bytes unchanged and parses only what the client sends: after the untyped startup
packets (SSLRequest, GSSENCRequest, StartupMessage), every frontend message is a type byte and
a length. A round trip is a message the client then waits on: a simple ``Query`` (``Q``) or a
``Sync`` (``S``) closing an extended-protocol batch (Parse/Bind/Execute...). A connection
that ever sends a query (simple or parsed) containing ``LISTEN`` (an event hub, the relay) is
reported apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from .infra import PG_HOST, PG_PORT

_UNTYPED_CODES = {80877103, 80877104}  # SSLRequest, GSSENCRequest: more untyped follow


@dataclass
class Wire:
    round_trips: dict[int, int] = field(default_factory=dict)  # connection number -> count
    listeners: set[int] = field(default_factory=set)
    port: int = 0

    def total(self) -> int:
        """Round trips of every connection that is not a LISTEN connection."""
        return sum(n for c, n in self.round_trips.items() if c not in self.listeners)

    def reset(self) -> None:
        self.round_trips = dict.fromkeys(self.round_trips, 0)


async def _client_to_server(
    wire: Wire, number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    started = False
    while not started:  # untyped: int32 length (itself included), int32 code, rest
        head = await reader.readexactly(8)
        length, code = struct.unpack("!ii", head)
        writer.write(head + await reader.readexactly(length - 8))
        await writer.drain()
        started = code not in _UNTYPED_CODES
    while True:
        head = await reader.readexactly(5)
        kind, length = head[:1], struct.unpack("!i", head[1:])[0]
        body = await reader.readexactly(length - 4)
        if kind in (b"Q", b"S"):
            wire.round_trips[number] = wire.round_trips.get(number, 0) + 1
        if kind in (b"Q", b"P") and b"LISTEN " in body.upper():
            wire.listeners.add(number)
        writer.write(head + body)
        await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()


@contextlib.asynccontextmanager
async def counting_proxy() -> AsyncIterator[Wire]:
    wire = Wire()
    tasks: set[asyncio.Future[None]] = set()
    numbers = itertools.count()

    async def serve(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        number = next(numbers)
        wire.round_trips[number] = 0
        server_r, server_w = await asyncio.open_connection(PG_HOST, PG_PORT)
        ends = [
            asyncio.ensure_future(_client_to_server(wire, number, client_r, server_w)),
            asyncio.ensure_future(_pipe(server_r, client_w)),
        ]
        tasks.update(ends)
        with contextlib.suppress(Exception):
            await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
        for end in ends:
            end.cancel()
            tasks.discard(end)
        for w in (client_w, server_w):
            w.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    wire.port = server.sockets[0].getsockname()[1]
    try:
        yield wire
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
