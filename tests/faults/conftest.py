"""Fixtures of the fault tier: a private 3-node RabbitMQ cluster (never the machine's own
broker)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .rabbit_cluster import RabbitCluster


@pytest.fixture
async def rabbit_cluster(tmp_path: Path) -> AsyncIterator[RabbitCluster]:
    cluster = RabbitCluster(tmp_path / "rabbit")
    try:
        took = await asyncio.to_thread(cluster.start)
        ports = ", ".join(f":{n.port}" for n in cluster.nodes)
        print(f"[faults] private 3-node RabbitMQ cluster ({ports}) formed in {took:.1f}s")
        yield cluster
    finally:
        await asyncio.to_thread(cluster.stop)
