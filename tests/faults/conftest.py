"""Fixtures of the fault tier: a private RabbitMQ node (never the machine's own broker)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .rabbit_node import PrivateRabbitNode


@pytest.fixture
async def rabbit_node(tmp_path: Path) -> AsyncIterator[PrivateRabbitNode]:
    node = PrivateRabbitNode(tmp_path / "rabbit")
    took = await asyncio.to_thread(node.start)
    print(f"[faults] private RabbitMQ node {node.name} on :{node.port} started in {took:.1f}s")
    try:
        yield node
    finally:
        await asyncio.to_thread(node.stop)
