"""Fixtures every tier may use. Service-specific fixtures live beside their tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from tests.support import infra
from tests.support.socket_guard import guarded


@pytest.fixture(autouse=True)
def no_connections_off_this_machine() -> Iterator[None]:
    """Every test: a connect() to a non-loopback address raises, and fails the test (even if
    the code under test caught the error). Webhook receivers, brokers, databases and storage
    in tests all live on 127.0.0.1 / ::1."""
    with guarded() as tried:
        yield
    assert not tried, f"the test tried to connect off this machine: {tried}"


@pytest.fixture
def amqp_url() -> Iterator[str]:
    """A fresh, empty RabbitMQ vhost for this test."""
    name = infra.unique_name("sorami-test")
    url = infra.create_vhost(name)
    yield url
    infra.delete_vhost(name)


@pytest.fixture
async def make_database() -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """Factory: ``await make_database("gateway")`` creates a fresh, empty database and
    returns its ``postgresql+asyncpg://`` URL; every database made is dropped afterwards."""
    made: list[str] = []

    async def make(prefix: str = "sorami") -> str:
        name = infra.unique_name(f"test_{prefix}")
        made.append(name)
        return await infra.create_database(name)

    yield make
    for name in made:
        await infra.drop_database(name)
