"""The generate body in the OpenAPI document. It is validated by hand (its model depends on
``{kind}``), so both models go in as an ``anyOf`` (not ``oneOf``: a body with only common
fields is valid for both, and ``oneOf`` would declare it invalid)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .requests import RequestModels


def document_generate_bodies(app: FastAPI, models: RequestModels) -> None:
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
