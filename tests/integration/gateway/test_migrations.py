"""The migrations create exactly what the models declare (no drift)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sorami_gateway.tables import metadata


async def test_migrated_schema_matches_the_models(engine):
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(
                    sync, opts={"compare_type": True, "compare_server_default": True}
                ),
                metadata,
            )
        )
    assert diff == []
