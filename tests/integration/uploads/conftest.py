"""Upload tests reuse the gateway's fixtures (a migrated database, settings, the app)."""

from __future__ import annotations

from tests.integration.gateway.conftest import (  # noqa: F401 - fixtures, used by name
    client,
    database_url,
    engine,
    make_settings,
    media_dir,
    sessions,
    settings,
)
