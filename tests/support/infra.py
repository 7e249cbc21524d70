"""Real infrastructure for tests: a fresh PostgreSQL database and a fresh RabbitMQ vhost per
test, so tests never touch data they did not make. Both servers are the machine's own
(``make test`` starts them if needed)."""

from __future__ import annotations

import os
import queue
import subprocess
import threading
import uuid
from urllib.parse import quote

import asyncpg

from tests.support import ports

PG_HOST = os.environ.get("SORAMI_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("SORAMI_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("SORAMI_TEST_PG_USER", "postgres")
AMQP_HOST = os.environ.get("SORAMI_TEST_AMQP_HOST", "127.0.0.1")
AMQP_PORT = int(os.environ.get("SORAMI_TEST_AMQP_PORT", "5672"))


def free_port() -> int:
    """A loopback port nothing listens on, that no other test process on this machine is given
    (see ``ports.PortAllocator``): safe under pytest-xdist and with overlapping runs."""
    return ports.allocator().take()


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


async def create_database(name: str) -> str:
    """Create an empty database; returns its SQLAlchemy asyncpg URL."""
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


async def clone_database(name: str, template: str) -> str:
    """Create ``name`` as a copy of ``template`` (schema and rows, e.g. a migrated database):
    far cheaper than running the migrations again. Nobody may be connected to the template."""
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


class DatabaseReaper:
    """Drops databases in a background thread, one at a time: ``DROP DATABASE`` waits for a
    checkpoint (0.3-2 s on a busy machine), which a test's teardown need not wait for.
    ``close()`` drops what is left and returns once every database is gone."""

    def __init__(self) -> None:
        self._names: queue.Queue[str | None] = queue.Queue()
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, name="db-reaper", daemon=True)
        self._thread.start()

    def drop_later(self, name: str) -> None:
        self._names.put(name)

    def _run(self) -> None:
        import asyncio

        while (name := self._names.get()) is not None:
            try:
                asyncio.run(drop_database(name))
            except Exception as exc:  # reported at close(); the run goes on
                self.errors.append(f"{name}: {exc!r}")

    def close(self) -> None:
        self._names.put(None)
        self._thread.join()


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def create_vhost(name: str) -> str:
    """Create a vhost the guest user may use; returns its AMQP URL."""
    _rabbitmqctl("add_vhost", name)
    _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    return vhost_url(name)


def delete_vhost(name: str) -> None:
    try:
        _rabbitmqctl("delete_vhost", name)
    except subprocess.CalledProcessError:
        pass


def vhost_url(name: str) -> str:
    return f"amqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}/{quote(name, safe='')}"


def _erlang_list(names: list[str]) -> str:
    for name in names:  # our own unique_name()s: nothing to escape
        assert all(c.isalnum() or c in "_-" for c in name), name
    return "[" + ", ".join(f'<<"{n}">>' for n in names) + "]"


def create_vhosts(names: list[str]) -> None:
    """Create several vhosts the guest user may use with ONE rabbitmqctl call: each call starts
    an Erlang VM (about a second, more on a loaded machine), the vhost itself is nothing."""
    _rabbitmqctl(
        "eval",
        '[begin rabbit_vhost:add(V, <<"sorami-tests">>),'
        ' rabbit_auth_backend_internal:set_permissions(<<"guest">>, V,'
        ' <<".*">>, <<".*">>, <<".*">>, <<"sorami-tests">>) end'
        f" || V <- {_erlang_list(names)}], ok.",
    )


def delete_vhosts(names: list[str]) -> None:
    """Delete several vhosts (with their queues) with one rabbitmqctl call."""
    if names:
        _rabbitmqctl(
            "eval", f'[rabbit_vhost:delete(V, <<"sorami-tests">>) || V <- {_erlang_list(names)}].'
        )


class VhostPool:
    """Fresh vhosts for tests, made and deleted in batches: ``take()`` hands out a vhost no
    test has used; ``give_back()`` queues it for deletion (done ``batch`` at a time and at
    ``close()``). Costs two rabbitmqctl calls per ``batch`` tests instead of three per test."""

    def __init__(self, batch: int = 10) -> None:
        self.batch = batch
        self._fresh: list[str] = []
        self._used: list[str] = []
        self._deleting: threading.Thread | None = None  # the last batch's deletion

    def take(self) -> str:
        if not self._fresh:
            names = [unique_name("sorami-test") for _ in range(self.batch)]
            create_vhosts(names)
            self._fresh = names
        return self._fresh.pop()

    def give_back(self, name: str) -> None:
        self._used.append(name)
        if len(self._used) >= self.batch:
            self._flush()

    def _flush(self) -> None:
        """Delete the used vhosts in a background thread (a test's teardown does not wait for
        rabbitmqctl); one deletion at a time."""
        names, self._used = self._used, []
        previous = self._deleting

        def delete() -> None:
            if previous is not None:
                previous.join()
            try:
                delete_vhosts(names)
            except subprocess.CalledProcessError:
                pass

        self._deleting = threading.Thread(target=delete, name="vhost-reaper", daemon=True)
        self._deleting.start()

    def close(self) -> None:
        self._used += self._fresh
        self._fresh = []
        self._flush()
        assert self._deleting is not None
        self._deleting.join()
