"""The migrations create exactly what the models declare (no drift), and a database created
by an earlier release, at any revision it may have stopped at, upgrades to head.

The files are named by what they do; the revision ids are the ones existing databases
recorded in ``alembic_version`` (``0002_issue6``...), so they never change."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sorami_gateway.infra.migrate import alembic_config, upgrade
from sorami_gateway.tables import metadata
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

# Every revision id a released gateway wrote into alembic_version, oldest first.
RELEASED_REVISIONS = ["0001", "0002_issue6", "0003_issue5", "0004_issue7"]


async def _schema_diff(conn: AsyncConnection) -> list[object]:
    return await conn.run_sync(
        lambda sync: compare_metadata(
            MigrationContext.configure(
                sync, opts={"compare_type": True, "compare_server_default": True}
            ),
            metadata,
        )
    )


async def test_migrated_schema_matches_the_models(engine):
    async with engine.connect() as conn:
        diff = await _schema_diff(conn)
    assert diff == []


def test_the_chain_keeps_every_released_revision_id_in_order():
    script = ScriptDirectory.from_config(alembic_config("postgresql+asyncpg://unused/none"))
    chain = [rev.revision for rev in reversed(list(script.walk_revisions()))]
    assert chain[: len(RELEASED_REVISIONS)] == RELEASED_REVISIONS
    assert script.get_current_head() == chain[-1]


@pytest.mark.parametrize("released", RELEASED_REVISIONS)
async def test_a_database_left_at_a_released_revision_upgrades_to_head(make_database, released):
    url = await make_database("gateway_old")
    await asyncio.to_thread(upgrade, url, released)  # what that release's migrate left behind
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            version = await conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
            assert version == released
        await asyncio.to_thread(upgrade, url, "head")
        await asyncio.to_thread(upgrade, url, "head")  # and again: a no-op
        async with engine.connect() as conn:
            head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
            assert await conn.scalar(sa.text("SELECT version_num FROM alembic_version")) == head
            tables = set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
            assert set(metadata.tables) <= tables
            assert await _schema_diff(conn) == []
    finally:
        await engine.dispose()
