"""The HTTP composition root: ``create_app(settings)`` mounts every feature's routes, and its
lifespan builds every object with a connection and provides it to the routes that declare it
(:class:`~sorami_gateway.rest.deps.Component`). Nothing else builds or looks up shared objects.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from sorami_shared.logging import get_logger

from .batches import routes as batches_routes
from .events import routes as events_routes
from .events.hub import EventHub
from .events.previews import PreviewListener
from .generations import routes as generations_routes
from .generations import routes_control, routes_history, routes_models, routes_webhooks
from .generations.metrics import instrument_http
from .generations.openapi import document_generate_bodies
from .generations.requests import build_request_models, request_models_component
from .guards.errors import install_guard_handlers
from .infra.auth import Authenticator
from .infra.db import create_engine, create_session_factory
from .infra.readiness import Readiness
from .media import routes as media_routes
from .media.urls import MediaUrls, media_urls_component, open_storage, storage_component
from .notifications import routes as notifications_routes
from .openai import BODIES as OPENAI_BODIES
from .openai import router as openai_router
from .rest import health, routes_dev
from .rest.bodies import document_json_bodies
from .rest.deps import (
    authenticator_component,
    engine_component,
    sessions_component,
    settings_component,
)
from .rest.errors import install_error_handlers
from .rest.middleware import RequestContextMiddleware
from .rest.web_app import mount_web_app
from .settings import GatewaySettings
from .uploads import direct as uploads_direct
from .uploads import routes as uploads_routes
from .webhooks.routes import router_for as webhooks_router_for

log = get_logger(__name__)

DOCS_ASSETS = "/docs-assets"


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    request_models = build_request_models(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        authenticator = Authenticator(settings)
        storage = open_storage(settings)
        settings_component.provide(app, settings)
        sessions_component.provide(app, create_session_factory(engine))
        engine_component.provide(app, engine)
        authenticator_component.provide(app, authenticator)
        request_models_component.provide(app, request_models)
        storage_component.provide(app, storage)
        media_urls_component.provide(app, MediaUrls(settings, storage))
        health.readiness_component.provide(
            app,
            Readiness(engine, settings.amqp_url, broker_cache_s=settings.readiness_broker_cache_s),
        )
        log.info("gateway api started", environment=settings.environment.value)
        hub: EventHub | None = None
        previews: PreviewListener | None = None
        try:
            hub = EventHub(settings.database_url)
            events_routes.hub_component.provide(app, hub)
            hub.start()
            previews = PreviewListener(settings.amqp_url, hub)  # live previews, never stored
            previews.start()
            yield
        finally:
            if previews is not None:
                await previews.aclose()
            if hub is not None:
                await hub.aclose()
            await authenticator.close()
            if storage is not None:
                await storage.close()
            await engine.dispose()

    # /docs and /redoc with their scripts and styles served from here (fastapi-offline ships
    # them), not from a CDN: they work offline and behind a strict egress policy.
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        title="Sorami gateway",
        version="0.1.0",
        description="Generate images and videos from a prompt; follow them; get the files.",
        lifespan=lifespan,
    )
    app.add_middleware(RequestContextMiddleware)
    instrument_http(app)  # served on the metrics port (sorami-gateway api --metrics-port)
    install_error_handlers(app)
    install_guard_handlers(app)
    app.include_router(health.router)
    # before /api/{kind}/...: "uploads" is not a kind (DELETE /api/{kind}/{job_id})
    app.include_router(uploads_routes.router)  # /api/uploads: users' input images
    app.include_router(uploads_direct.router)  # /api/uploads/direct: S3 presigned PUTs
    app.include_router(notifications_routes.router)
    app.include_router(routes_models.router)
    # before /api/{kind}/...: "batches" would be taken for a kind
    app.include_router(batches_routes.router)  # bulk jobs
    app.include_router(generations_routes.router)
    app.include_router(routes_control.router)  # cancel, delete
    app.include_router(events_routes.router)  # server-sent events
    app.include_router(media_routes.router)
    app.include_router(webhooks_router_for(settings))  # webhook secrets, endpoints
    app.include_router(routes_webhooks.router)  # a job's webhook deliveries
    app.include_router(openai_router)  # /v1: the OpenAI-compatible facade
    app.include_router(routes_history.router)  # /api/generations: both kinds (web gallery)
    app.include_router(routes_dev.router)  # /api/dev/token: development sign-in
    document_generate_bodies(app, request_models, {**OPENAI_BODIES, **batches_routes.BODIES})
    document_json_bodies(app)
    mount_web_app(app, settings)  # last: "/" matches whatever the API did not
    return app


def close_event_streams(app: FastAPI) -> None:
    """End every open event stream (they never end on their own; clients resume)."""
    hub: EventHub | None = getattr(app.state, events_routes.hub_component.name, None)
    if hub is not None:
        hub.close()
