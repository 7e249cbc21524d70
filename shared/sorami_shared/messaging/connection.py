"""Connecting to one broker or to any node of a RabbitMQ cluster.

``AMQP_URL`` holds one URL or a comma-separated list of a cluster's nodes
(``amqp://u:p@rabbit-0:5672/,amqp://u:p@rabbit-1:5672/``). aio-pika's robust connection
reconnects to the one URL it was given; :class:`FailoverConnection` moves on to the next node
of the list each time a connection attempt fails or an open connection is lost, so a process
whose node died (or was paused as a partition's minority) carries on with a surviving node,
channels, consumers and declarations restored as after any reconnect. Nodes are tried in
rotation, starting with the first: list them in a different order per service to spread
connections over the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import aio_pika
from aio_pika.abc import AbstractRobustConnection
from yarl import URL

from ..logging import get_logger

log = get_logger(__name__)


def broker_urls(value: str | Sequence[str]) -> list[str]:
    """The node URLs of ``value``: one URL, a comma-separated list, or a sequence of URLs."""
    items = value.split(",") if isinstance(value, str) else list(value)
    urls = [u.strip() for u in items if u.strip()]
    if not urls:
        raise ValueError("no broker URL given")
    return urls


class BrokerNodes:
    """The nodes of one process's broker, and which one to try next (shared by every
    connection the process makes, so a retry after a failed connect starts on another node)."""

    def __init__(self, value: str | Sequence[str]) -> None:
        self.urls = broker_urls(value)
        self._next = 0

    def __len__(self) -> int:
        return len(self.urls)

    @property
    def current(self) -> str:
        return self.urls[self._next]

    def advance(self) -> str:
        self._next = (self._next + 1) % len(self.urls)
        return self.current


class FailoverConnection(aio_pika.RobustConnection):
    """A robust connection that, on every failed attempt or lost connection, points itself at
    the next node before aio-pika's reconnect loop tries again."""

    def __init__(self, nodes: BrokerNodes, **kwargs: Any) -> None:
        self.nodes = nodes
        super().__init__(URL(nodes.current), **kwargs)

    async def _on_connection_close(self, closing: asyncio.Future[Any]) -> None:
        if len(self.nodes) > 1 and not self._close_called and not self.is_closed:
            was = str(self)
            self.url = URL(self.nodes.advance())
            log.warning("broker connection lost or refused; next node", was=was, next=str(self))
        await super()._on_connection_close(closing)


def handshake_cut(node: str, exc: BaseException) -> aio_pika.exceptions.AMQPError:
    """aiormq raises ``StopAsyncIteration`` when the socket is already at its end as the
    handshake reads its first frame (seen under uvloop in the fault run, a proxy cutting
    connections): a node that failed, like a reset, not an error that ends the service."""
    url = URL(node)
    shown = url.with_password("[redacted]") if url.password else url
    error = aio_pika.exceptions.AMQPConnectionError(
        f"{shown}: the connection closed during the handshake"
    )
    error.__cause__ = exc
    return error


async def connect_failover(
    nodes: BrokerNodes | str | Sequence[str],
    *,
    timeout: float = 10,
    reconnect_interval: float = 2,
) -> AbstractRobustConnection:
    """A connected :class:`FailoverConnection`: each node is tried once, in rotation from the
    current one; the last error is raised if none answers."""
    nodes = nodes if isinstance(nodes, BrokerNodes) else BrokerNodes(nodes)
    error: BaseException | None = None
    for _ in range(len(nodes)):
        tried = nodes.current
        connection = FailoverConnection(nodes, reconnect_interval=reconnect_interval)
        try:
            await connection.connect(timeout=timeout)
        except BaseException as exc:
            # whatever ended the attempt (a refused node, a stop, a bug): close it, or
            # aio-pika's reconnect task lives on, retrying forever and swallowing cancellation
            with contextlib.suppress(Exception):
                await asyncio.shield(connection.close())
            failed = handshake_cut(tried, exc) if isinstance(exc, StopAsyncIteration) else exc
            if not isinstance(failed, (TimeoutError, OSError, aio_pika.exceptions.AMQPError)):
                raise
            error = failed
            if nodes.current == tried:
                nodes.advance()  # not rotated by the close callback (the error came before)
            continue
        return connection
    assert error is not None
    raise error


async def probe(nodes: BrokerNodes | str | Sequence[str], *, timeout: float = 3) -> None:
    """Open and close a plain connection to the first node that answers (readiness checks);
    raises the last error if none does."""
    nodes = nodes if isinstance(nodes, BrokerNodes) else BrokerNodes(nodes)
    error: BaseException | None = None
    for _ in range(len(nodes)):
        try:
            connection = await aio_pika.connect(nodes.current, timeout=timeout)
        except (TimeoutError, OSError, aio_pika.exceptions.AMQPError, StopAsyncIteration) as exc:
            cut = isinstance(exc, StopAsyncIteration)  # aiormq: the handshake was cut
            error = handshake_cut(nodes.current, exc) if cut else exc
            nodes.advance()
            continue
        await connection.close()
        return
    assert error is not None
    raise error
