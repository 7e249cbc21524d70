"""``/media/{key}``: local-backend files behind signed, expiring URLs (no bearer token: the
signature is the capability, so a browser can open it directly).

Served as a static file server would (Starlette's ``FileResponse``): ``HEAD``, ``Range`` (206,
``Accept-Ranges: bytes``, so a ``<video>`` can seek), ``ETag``/``Last-Modified`` and a 304 on
``If-None-Match``/``If-Modified-Since``. S3 storage comes here only when presigning fails (its
URLs are presigned, and S3 itself answers ranges and conditional requests): then the whole
object is answered, with ``Accept-Ranges: none`` (media elements then read it all rather than
seek), never a second, hand-written Range implementation."""

from __future__ import annotations

import asyncio
import mimetypes
import os
import uuid
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from stat import S_ISREG
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse
from sorami_shared.storage import ObjectNotFound, StorageError
from sorami_shared.storage.local import LocalStorage
from sqlalchemy.ext.asyncio import AsyncEngine

from ..infra.db import driver_connection
from ..rest.deps import EngineDep, SettingsDep
from .signing import is_safe_key, verify
from .urls import StorageDep

router = APIRouter(tags=["media"])

_TYPES = {
    ".png": "image/png",
    ".mp4": "video/mp4",
    ".webp": "image/webp",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webm": "video/webm",
}


def content_type_for(key: str) -> str:
    dot = key.rfind(".")
    ext = key[dot:].lower() if dot >= 0 else ""
    return _TYPES.get(ext) or mimetypes.guess_type(key)[0] or "application/octet-stream"


HEADERS = {"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"}


# What /media answers, for the OpenAPI document (206/304/416: FileResponse, local storage).
ANSWERS: dict[int | str, dict[str, object]] = {
    200: {"content": {"image/png": {}, "video/mp4": {}}, "description": "The file"},
    206: {"description": "The byte range asked for (Range: bytes=...)"},
    304: {"description": "Not modified (If-None-Match / If-Modified-Since)"},
    416: {"description": "The range is outside the file"},
    403: {"description": "Missing, tampered or expired signature"},
    404: {"description": "No such object"},
    410: {"description": "The result expired (its generation's expires_at passed)"},
}


# A result's files ({kind}/{job_id}/...) past the generation's expires_at: 410 (issue 26).
EXPIRED_SQL = "SELECT expires_at <= now() FROM generations WHERE id = $1"
RESULT_PREFIXES = ("image/", "video/")


async def _expired(engine: AsyncEngine, key: str) -> bool:
    if not key.startswith(RESULT_PREFIXES):
        return False
    try:
        job_id = uuid.UUID(key.split("/")[1])
    except (IndexError, ValueError):
        return False
    async with driver_connection(engine) as conn:
        return bool(await conn.fetchval(EXPIRED_SQL, job_id))


@router.head("/media/{key:path}", include_in_schema=False)
@router.get("/media/{key:path}", responses=ANSWERS)
async def media(
    key: str,
    request: Request,
    settings: SettingsDep,
    storage: StorageDep,
    engine: EngineDep,
    expires: Annotated[int, Query(ge=0, le=2**62)],
    signature: Annotated[str, Query(min_length=64, max_length=64)],
) -> Response:
    if not is_safe_key(key) or not verify(settings.media_secret, key, expires, signature):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid or expired signature")
    if await _expired(engine, key):
        raise HTTPException(status.HTTP_410_GONE, "this result expired")
    if storage is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "storage unavailable")
    try:
        if isinstance(storage, LocalStorage):
            return await file_response(request, storage, key)
        data = await storage.get(key)
    except ObjectNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found") from None
    except StorageError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "storage unavailable") from None
    # another backend's object (S3 when presigning failed): whole, as RFC 9110 allows
    headers = {**HEADERS, "Accept-Ranges": "none"}
    return Response(content=data, media_type=content_type_for(key), headers=headers)


async def file_response(request: Request, storage: LocalStorage, key: str) -> Response:
    """The file, its ranges and validators (FileResponse), or a 304 when the client's copy is
    current."""
    path = storage.path_for(key)
    try:
        stat = await asyncio.to_thread(os.stat, path)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise ObjectNotFound(key) from exc
    except OSError as exc:
        raise StorageError(f"could not read {key}: {exc}") from exc
    if not S_ISREG(stat.st_mode):
        raise ObjectNotFound(key)
    response = FileResponse(
        path, media_type=content_type_for(key), headers=HEADERS, stat_result=stat
    )
    if _not_modified(request.headers, response.headers):
        kept = ("etag", "last-modified", "cache-control")
        return Response(
            status_code=304, headers={k: response.headers[k] for k in kept if k in response.headers}
        )
    return response


def _not_modified(asked: Mapping[str, str], answer: Mapping[str, str]) -> bool:
    """RFC 9110 13.1: If-None-Match wins over If-Modified-Since."""
    if_none_match = asked.get("if-none-match")
    if if_none_match is not None:
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return "*" in tags or answer.get("etag", "").removeprefix("W/") in tags
    since = asked.get("if-modified-since")
    modified = answer.get("last-modified")
    if since is None or modified is None:
        return False
    try:
        return parsedate_to_datetime(since) >= parsedate_to_datetime(modified)
    except (TypeError, ValueError):
        return False
