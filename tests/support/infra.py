"""Real infrastructure for tests: a fresh PostgreSQL database and a fresh RabbitMQ vhost per
test, so tests never touch data they did not make. Both servers are the machine's own
(``make test`` starts them if needed)."""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from urllib.parse import quote

import asyncpg

PG_HOST = os.environ.get("SORAMI_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("SORAMI_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("SORAMI_TEST_PG_USER", "postgres")
AMQP_HOST = os.environ.get("SORAMI_TEST_AMQP_HOST", "127.0.0.1")
AMQP_PORT = int(os.environ.get("SORAMI_TEST_AMQP_PORT", "5672"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def create_vhost(name: str) -> str:
    """Create a vhost the guest user may use; returns its AMQP URL."""
    _rabbitmqctl("add_vhost", name)
    _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    return f"amqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}/{quote(name, safe='')}"


def delete_vhost(name: str) -> None:
    try:
        _rabbitmqctl("delete_vhost", name)
    except subprocess.CalledProcessError:
        pass
