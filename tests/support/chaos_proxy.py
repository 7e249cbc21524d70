"""A TCP proxy that can cut, refuse and slow the connections going through it (the technique
of aio-pika's reconnection tests), put between a service and RabbitMQ, PostgreSQL or storage.
``stop()`` then ``start()`` again takes the peer down and brings it back on the same port."""

from __future__ import annotations

import asyncio
import contextlib

from tests.support.infra import free_port


class ChaosProxy:
    def __init__(self, name: str, target_host: str, target_port: int) -> None:
        self.name = name
        self.target = (target_host, target_port)
        self.port = free_port()
        self.latency_s = 0.0  # added to every chunk, both directions
        self.refusing = False  # accept and drop at once: the peer looks down
        self.cuts = 0
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def url_for(self, url: str) -> str:
        """``url`` (amqp:// or postgresql+asyncpg://, host 127.0.0.1) pointed at this proxy."""
        host, port = self.target
        return url.replace(f"@{host}:{port}/", f"@127.0.0.1:{self.port}/", 1)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def open_links(self) -> int:
        return len(self._links)

    def cut(self) -> int:
        """Drop every open connection (as a network failure would); returns how many."""
        links = list(self._links)
        for client, upstream in links:
            for writer in (client, upstream):
                with contextlib.suppress(Exception):
                    writer.transport.abort()
        self._links.clear()
        if links:
            self.cuts += 1
        return len(links)

    async def outage(self, seconds: float) -> None:
        """Cut everything and refuse new connections for ``seconds``."""
        self.refusing = True
        self.cut()
        try:
            await asyncio.sleep(seconds)
        finally:
            self.refusing = False

    async def slow(self, seconds: float, latency_s: float) -> None:
        self.latency_s = latency_s
        try:
            await asyncio.sleep(seconds)
        finally:
            self.latency_s = 0.0

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        link = (writer, up_writer)
        self._links.add(link)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst, link))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        link: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        try:
            while data := await src.read(65536):
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._links.discard(link)
            for writer in link:
                with contextlib.suppress(Exception):
                    writer.close()
