"""Reading a request body within the gateway's size limit (``/api`` and ``/v1`` creates), and
refusing one that is not JSON (``/api`` bodies are JSON: a ``text/plain`` body is a 415 naming
its type, not parsed as JSON anyway)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request, status


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 beyond ``limit`` bytes (before buffering it all)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "request body too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "request body too large")
        chunks.append(chunk)
    return b"".join(chunks)


def non_json_content_type(request: Request) -> str | None:
    """The request's media type when it is declared and is not JSON (``application/json`` or
    ``application/*+json``); None otherwise (no Content-Type is read as JSON, like FastAPI)."""
    value = request.headers.get("content-type")
    if not value or not value.strip():
        return None
    media = value.split(";", 1)[0].strip().lower()
    if media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    ):
        return None
    return media


def unsupported_media_type(media: str) -> HTTPException:
    return HTTPException(
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        f"Content-Type '{media[:100]}' is not supported: send the body as application/json",
    )


async def read_json_body(request: Request, limit: int) -> bytes:
    """:func:`read_body` of a JSON request; any other declared Content-Type is a 415."""
    media = non_json_content_type(request)
    if media is not None:
        raise unsupported_media_type(media)
    return await read_body(request, limit)


UNSUPPORTED_MEDIA_TYPE = {"description": "The body is not JSON (its Content-Type is named)"}


def document_json_bodies(app: FastAPI) -> None:
    """Every ``/api`` operation that takes a body documents its 415 (the OpenAPI document
    lists every status an operation can answer: the schema fuzzing checks it). Wraps
    whatever ``app.openapi`` is by now."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith("/api"):
                continue
            for operation in operations.values():
                if isinstance(operation, dict) and "requestBody" in operation:
                    operation.setdefault("responses", {}).setdefault(
                        "415", dict(UNSUPPORTED_MEDIA_TYPE)
                    )
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
