"""Live-progress fixtures: the gateway fixtures (migrated database, settings, ASGI client) and
a real uvicorn server per test (httpx's ASGI transport buffers whole responses, so a stream
needs a real HTTP server)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn
from sorami_gateway.app import create_app
from sorami_gateway.settings import GatewaySettings

from tests.integration.gateway.conftest import (  # noqa: F401 - fixtures reused, not copied
    client,
    database_url,
    engine,
    make_settings,
    media_dir,
    sessions,
    settings,
)
from tests.integration.generator.conftest import (  # noqa: F401 - fixtures reused
    client_bus,
    seaweed,
    settings_for,
    tap,
    tiny_models_dir,
)
from tests.support.infra import free_port


@contextlib.asynccontextmanager
async def serving(gateway_settings: GatewaySettings) -> AsyncIterator[str]:
    """A gateway API replica on a free port; yields its base URL. Exiting is a shutdown (open
    streams end, as on SIGTERM)."""
    app = create_app(gateway_settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=5,
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.02)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        hub = getattr(app.state, "event_hub", None)
        if hub is not None:
            hub.close()
        server.should_exit = True
        await asyncio.wait_for(task, 15)
