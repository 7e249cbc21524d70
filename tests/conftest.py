"""Fixtures every tier may use. Service-specific fixtures live beside their tests."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from tests.support import infra
from tests.support.socket_guard import guarded

# ---- running in parallel (pytest-xdist: ``make test TEST_WORKERS=3`` = ``-n 3 --dist loadgroup``)
# Under ``--dist loadgroup`` a worker takes a whole unit at a time: a test file, or every test
# marked ``xdist_group(NAME)`` together. So module- and package-scoped fixtures start once.
# Units holding a ``slow`` test are handed out first (the longest work must not start last).

# Tests that share one worker, in order (prefix -> group). "system": every test that starts a
# whole Sorami system (services, tiny models: CPU-heavy), and the browser tier, which shares
# one system and one browser (package-scoped fixtures). One such system at a time beside the
# fault run's keeps a 2-core machine from starving them (timeouts); the other workers run the
# unit and integration files meanwhile. A new test that starts a system belongs here.
SHARED_PACKAGES = {
    "tests/e2e/web/": "system",
    "tests/e2e/test_bench_scheduler.py": "system",
    "tests/e2e/test_bench_system.py": "system",
    "tests/e2e/test_contracts.py": "system",
    "tests/e2e/test_families.py": "system",
    "tests/e2e/test_live.py": "system",
    "tests/e2e/test_metrics.py": "system",
    "tests/e2e/test_openai_sdk.py": "system",
    "tests/e2e/test_prometheus_alerts.py": "system",
    "tests/e2e/test_system_local.py": "system",
    "tests/e2e/test_system_s3.py": "system",
    "tests/e2e/test_webhooks_readme.py": "system",
}
# The longest units, longest first: started first, in this order (a unit's rank is that of
# its first listed test). A new long test can also just say ``@pytest.mark.slow``.
SLOW = (
    "tests/faults/",  # ~5 min alone
    "tests/e2e/web/",  # ranks the whole "system" lane (every whole-system test in turn)
    "tests/e2e/",
    "tests/integration/security/test_fuzz_openapi.py",
    "tests/integration/generator/",
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: takes half a minute or more; under xdist its unit is started first"
    )
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_FileOrGroupScheduling(), "sorami-xdist-scheduling")


def _unit_of(nodeid: str) -> str:
    """The unit a node id belongs to: its ``xdist_group`` (xdist appends ``@NAME``), its shared
    package, or its file."""
    if nodeid.rfind("@") > nodeid.rfind("]"):
        return "@" + nodeid.rsplit("@", 1)[-1]
    for prefix, group in SHARED_PACKAGES.items():
        if nodeid.startswith(prefix):
            return "@" + group
    return nodeid.split("::", 1)[0]


def _unit(item: pytest.Item) -> str:
    mark = item.get_closest_marker("xdist_group")
    if mark is not None:
        return "@" + str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
    return _unit_of(item.nodeid)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if getattr(config.option, "loadgroup", False) and hasattr(config, "workerinput"):
        # every worker sorts alike (xdist checks that they collected the same list); stable,
        # and by unit, so a unit's tests stay together
        rank: dict[str, int] = {}
        for item in items:
            listed = [i for i, prefix in enumerate(SLOW) if item.nodeid.startswith(prefix)]
            mine = listed[0] if listed else len(SLOW) + (not item.get_closest_marker("slow"))
            rank[_unit(item)] = min(rank.get(_unit(item), mine), mine)
        items.sort(key=lambda item: rank[_unit(item)])


class _FileOrGroupScheduling:
    @pytest.hookimpl
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """``--dist loadgroup``, with a test file as the unit of tests not in a group (xdist's
        own makes each such test its own unit), in collection order (no reordering by size)."""
        if config.getvalue("dist") != "loadgroup":
            return None
        from xdist.scheduler import LoadScopeScheduling

        class FileOrGroup(LoadScopeScheduling):
            def _split_scope(self, nodeid: str) -> str:
                return _unit_of(nodeid)

        config.option.loadscopereorder = False
        return FileOrGroup(config, log)


# ---- every test ----------------------------------------------------------------------------


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


@pytest.fixture(scope="session")
def database_reaper() -> Iterator[infra.DatabaseReaper]:
    """Drops the tests' databases in the background (a drop waits for a checkpoint)."""
    reaper = infra.DatabaseReaper()
    yield reaper
    reaper.close()
    assert not reaper.errors, f"databases not dropped: {reaper.errors}"


@pytest.fixture
async def make_database(
    migrated_template: Callable[[str], str], database_reaper: infra.DatabaseReaper
) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """Factory: ``await make_database("gateway")`` creates a fresh, empty database and
    returns its ``postgresql+asyncpg://`` URL; ``migrated="gateway"`` (or ``"notifier"``)
    makes it a copy of that service's schema at head instead. Every database made is dropped
    afterwards (in the background: the next test does not wait for it)."""
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
        database_reaper.drop_later(name)
