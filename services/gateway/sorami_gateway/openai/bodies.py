"""Request bodies of ``/v1`` creates: JSON, or multipart/form-data (what the SDK sends for
``videos.create``), read within the gateway's body-size limit, then validated by a model."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData, UploadFile
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
            f"Request body too large (at most {limit} bytes).",
            code="request_too_large",
        ) from None


async def _parsed_form(request: Request, body: bytes) -> FormData:
    """The multipart body already read (its size bounded), parsed; malformed: 400."""

    async def stream():  # type: ignore[no-untyped-def]
        yield body

    parser = MultiPartParser(request.headers, stream(), max_files=4, max_fields=64)
    try:
        return await parser.parse()
    except MultiPartException as exc:
        raise bad_request(f"Malformed multipart/form-data body: {exc.message}") from None


async def _multipart(request: Request, body: bytes) -> dict[str, Any]:
    form = await _parsed_form(request, body)
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


async def read_form(
    request: Request, body: bytes, file_names: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A multipart body's text fields and files (``name[]`` read as ``name``, once each; a
    file part not in ``file_names`` is a 400 naming it)."""
    form = await _parsed_form(request, body)
    fields: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    try:
        for name, value in form.multi_items():
            key = name.removesuffix("[]")
            if key in fields or key in files:
                raise bad_request(f"Parameter '{key}' is given more than once.", param=key)
            if isinstance(value, UploadFile):
                if key not in file_names:
                    raise bad_request(f"Unexpected file parameter '{key}'.", param=key)
                files[key] = await value.read()
            else:
                fields[key] = value
    finally:
        await form.close()
    return fields, files


async def parse_body(request: Request, model: type[T], *, limit: int) -> T:
    body = await _read(request, limit)
    return _validate(model, await _data(request, body))


async def parse_with_files(
    request: Request, model: type[T], *, limit: int, file_names: tuple[str, ...]
) -> tuple[T, dict[str, bytes]]:
    """JSON, or multipart whose parts named in ``file_names`` may be files (returned apart)."""
    body = await _read(request, limit)
    files: dict[str, bytes] = {}
    if _content_type(request).startswith("multipart/form-data"):
        data, files = await read_form(request, body, file_names)
    else:
        data = await _data(request, body)
    return _validate(model, data), files


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "application/json").lower()


async def _data(request: Request, body: bytes) -> dict[str, Any]:
    content_type = _content_type(request)
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
    return data


def _validate(model: type[T], data: dict[str, Any]) -> T:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation(exc.errors(include_url=False)) from None
