"""``create_app(settings)``: everything with a connection is built in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from sorami_shared.events import Kind
from sorami_shared.logging import get_logger
from sorami_shared.storage import Storage, make_storage

from .. import metrics
from ..auth import Authenticator
from ..db import create_engine, create_session_factory
from ..event_hub import EventHub
from ..generation_requests import GenerateRequestBase, build_request_models
from ..media_urls import MediaUrls
from ..openai_compat import router as openai_router
from ..readiness import Readiness
from ..settings import GatewaySettings
from ..web_app import mount_web_app
from . import (
    routes_control,
    routes_dev,
    routes_events,
    routes_generations,
    routes_health,
    routes_history,
    routes_media,
    routes_models,
    routes_notifications,
)
from .deps import AppContext
from .errors import install_error_handlers
from .middleware import RequestContextMiddleware

log = get_logger(__name__)


def _open_storage(settings: GatewaySettings) -> Storage | None:
    try:
        return make_storage(settings)
    except Exception as exc:  # noqa: BLE001 - URLs still work; /media answers 503
        log.error("storage backend unavailable", backend=settings.storage_backend, error=repr(exc))
        return None


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    request_models = build_request_models(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        authenticator = Authenticator(settings)
        storage = _open_storage(settings)
        app.state.context = AppContext(
            settings=settings,
            sessions=create_session_factory(engine),
            authenticator=authenticator,
            request_models=request_models,
            media_urls=MediaUrls(settings, storage),
            storage=storage,
            readiness=Readiness(
                engine, settings.amqp_url, broker_cache_s=settings.readiness_broker_cache_s
            ),
        )
        log.info("gateway api started", environment=settings.environment.value)
        try:
            app.state.event_hub = EventHub(settings.database_url)
            app.state.event_hub.start()
            yield
        finally:
            if hasattr(app.state, "event_hub"):
                await app.state.event_hub.aclose()
            await authenticator.close()
            if storage is not None:
                await storage.close()
            await engine.dispose()

    app = FastAPI(
        title="Sorami gateway",
        version="0.1.0",
        description="Generate images and videos from a prompt; follow them; get the files.",
        lifespan=lifespan,
    )
    app.add_middleware(RequestContextMiddleware)
    metrics.instrument(app)  # served on the metrics port (sorami-gateway api --metrics-port)
    install_error_handlers(app)
    app.include_router(routes_health.router)
    app.include_router(routes_notifications.router)
    app.include_router(routes_generations.router)
    app.include_router(routes_control.router)  # cancel, delete
    app.include_router(routes_events.router)  # server-sent events
    app.include_router(routes_media.router)
    app.include_router(openai_router)  # /v1: the OpenAI-compatible facade
    app.include_router(routes_history.router)  # /api/generations: both kinds (web gallery)
    app.include_router(routes_models.router)
    app.include_router(routes_dev.router)  # /api/dev/token: development sign-in
    _document_generate_bodies(app, request_models)
    mount_web_app(app, settings)  # last: "/" matches whatever the API did not
    return app


def _document_generate_bodies(app: FastAPI, models: dict[Kind, type[GenerateRequestBase]]) -> None:
    """The generate body is validated by hand (its model depends on ``{kind}``); put both
    models in the OpenAPI document as an ``anyOf`` (not ``oneOf``: a body with only common
    fields is valid for both, and ``oneOf`` would declare it invalid)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        refs = []
        for model in models.values():
            model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(model_schema.pop("$defs", {}))
            components[model.__name__] = model_schema
            refs.append({"$ref": f"#/components/schemas/{model.__name__}"})
        body = schema["paths"]["/api/{kind}/generate"]["post"]["requestBody"]
        body["content"]["application/json"]["schema"] = {"anyOf": refs}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
