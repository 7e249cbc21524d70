"""Request bodies the routes read by hand, in the OpenAPI document. The generate body's model
depends on ``{kind}``, so both models go in as an ``anyOf`` (not ``oneOf``: a body with only
common fields is valid for both, and ``oneOf`` would declare it invalid). ``others``: bodies of
other routes (the ``/v1`` creates, JSON or multipart/form-data), so that a generated client
sends them."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from .requests import RequestModels

# "METHOD /path" -> (the body's model, its media types)
OtherBodies = dict[str, tuple[type[BaseModel], tuple[str, ...]]]


def _component(components: dict[str, Any], model: type[BaseModel]) -> dict[str, str]:
    model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(model_schema.pop("$defs", {}))
    components[model.__name__] = model_schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def document_generate_bodies(
    app: FastAPI, models: RequestModels, others: OtherBodies | None = None
) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        refs = [_component(components, model) for model in models.values()]
        body = schema["paths"]["/api/{kind}/generate"]["post"]["requestBody"]
        body["content"]["application/json"]["schema"] = {"anyOf": refs}
        for route, (model, media_types) in (others or {}).items():
            method, path = route.split(" ", 1)
            ref = _component(components, model)
            schema["paths"][path][method.lower()]["requestBody"] = {
                "required": True,
                "content": {media_type: {"schema": ref} for media_type in media_types},
            }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
