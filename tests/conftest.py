"""Fixtures every tier may use. Service-specific fixtures live beside their tests."""

from __future__ import annotations

import asyncio
import importlib
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


@pytest.fixture(scope="session")
def vhost_pool() -> Iterator[infra.VhostPool]:
    pool = infra.VhostPool()
    yield pool
    pool.close()


@pytest.fixture
def amqp_url(vhost_pool: infra.VhostPool) -> Iterator[str]:
    """A fresh, empty RabbitMQ vhost for this test (no other test ever uses it); made ten at a
    time and deleted ten at a time, after the tests that used them."""
    name = vhost_pool.take()
    yield infra.vhost_url(name)
    vhost_pool.give_back(name)


# The migrations a template database is made with, by service: "module:function(url)".
MIGRATIONS = {
    "gateway": "sorami_gateway.infra.migrate:upgrade",
    "notifier": "sorami_notifier.migrate:upgrade",
}


@pytest.fixture(scope="session")
def migrated_template() -> Iterator[Callable[[str], str]]:
    """``migrated_template("gateway")``: the name of a database migrated to head once for the
    whole run (made on first use, dropped at the end). Tests never connect to it; they get
    copies (``make_database(..., migrated="gateway")``), which take a fraction of the time the
    migrations take. The migrations themselves are tested from an empty database elsewhere
    (test_migrations, the ``migrate`` processes)."""
    made: dict[str, str] = {}

    def template(service: str) -> str:
        if service not in made:
            module, function = MIGRATIONS[service].split(":")
            upgrade = getattr(importlib.import_module(module), function)
            name = infra.unique_name(f"template_{service}")
            url = asyncio.run(infra.create_database(name))
            made[service] = name
            upgrade(url)  # its own event loop, its engine disposed: nobody left connected
        return made[service]

    yield template
    for name in made.values():
        asyncio.run(infra.drop_database(name))


@pytest.fixture
async def make_database(
    migrated_template: Callable[[str], str],
) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """Factory: ``await make_database("gateway")`` creates a fresh, empty database and
    returns its ``postgresql+asyncpg://`` URL; ``migrated="gateway"`` (or ``"notifier"``)
    makes it a copy of that service's schema at head instead. Every database made is dropped
    afterwards."""
    made: list[str] = []

    async def make(prefix: str = "sorami", *, migrated: str | None = None) -> str:
        name = infra.unique_name(f"test_{prefix}")
        made.append(name)
        if migrated is None:
            return await infra.create_database(name)
        template = await asyncio.to_thread(migrated_template, migrated)
        return await infra.clone_database(name, template)

    yield make
    for name in made:
        await infra.drop_database(name)
