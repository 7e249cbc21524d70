"""Request bodies of ``/v1`` creates: JSON, or multipart/form-data (what the SDK sends for
``videos.create``), read within the gateway's body-size limit, then validated by a model."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from ..rest.bodies import read_body
from .errors import OpenAIError, bad_request, from_validation

T = TypeVar("T", bound=BaseModel)


async def _read(request: Request, limit: int) -> bytes:
    try:
        return await read_body(request, limit)
    except HTTPException as exc:
        if exc.status_code != 413:
            raise
        raise OpenAIError(
            413,
            f"Request body too large (at most {limit} bytes); note that Sorami does not "
            "accept input_reference uploads.",
            code="request_too_large",
        ) from None


async def _multipart(request: Request, body: bytes) -> dict[str, Any]:
    async def stream():  # type: ignore[no-untyped-def]
        yield body

    parser = MultiPartParser(request.headers, stream(), max_files=4, max_fields=64)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise bad_request(f"Malformed multipart/form-data body: {exc.message}") from None
    values: dict[str, Any] = {}
    try:
        for name, value in form.multi_items():
            if name in values:
                raise bad_request(f"Parameter '{name}' is given more than once.", param=name)
            if isinstance(value, UploadFile):
                values[name] = {"filename": value.filename}  # an upload: refused by the model
            else:
                values[name] = value
    finally:
        await form.close()
    return values


async def parse_body(request: Request, model: type[T], *, limit: int) -> T:
    body = await _read(request, limit)
    content_type = request.headers.get("content-type", "application/json").lower()
    if content_type.startswith("multipart/form-data"):
        data: Any = await _multipart(request, body)
    elif content_type.startswith("application/json") or not content_type:
        try:
            data = json.loads(body or b"null")
        except ValueError as exc:
            raise bad_request(f"We could not parse the JSON body of your request: {exc}") from None
    else:
        raise bad_request(
            f"Unsupported Content-Type '{content_type}': send application/json or "
            "multipart/form-data."
        )
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation(exc.errors(include_url=False)) from None
