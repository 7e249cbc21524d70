"""``/media/{key}``: local-backend files behind signed, expiring URLs (no bearer token: the
signature is the capability, so a browser can open it directly)."""

from __future__ import annotations

import mimetypes
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from sorami_shared.storage import ObjectNotFound, StorageError

from ..media_ranges import RangeNotSatisfiable, byte_range
from ..signing import is_safe_key, verify
from .deps import Context

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


@router.get(
    "/media/{key:path}",
    responses={
        200: {"content": {"image/png": {}, "video/mp4": {}}, "description": "The file"},
        206: {"description": "The byte range asked for (Range: bytes=...)"},
        416: {"description": "The range is outside the file"},
        403: {"description": "Missing, tampered or expired signature"},
        404: {"description": "No such object"},
    },
)
async def media(
    key: str,
    request: Request,
    context: Context,
    expires: Annotated[int, Query(ge=0, le=2**62)],
    signature: Annotated[str, Query(min_length=64, max_length=64)],
) -> Response:
    if not is_safe_key(key) or not verify(context.settings.media_secret, key, expires, signature):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid or expired signature")
    if context.storage is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "storage unavailable")
    try:
        data = await context.storage.get(key)
    except ObjectNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found") from None
    except StorageError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "storage unavailable") from None
    headers = {
        "Cache-Control": "private, max-age=300",
        "X-Content-Type-Options": "nosniff",
        "Accept-Ranges": "bytes",
    }
    try:
        span = byte_range(request.headers.get("range"), len(data))
    except RangeNotSatisfiable:
        headers["Content-Range"] = f"bytes */{len(data)}"
        return Response(status_code=status.HTTP_416_RANGE_NOT_SATISFIABLE, headers=headers)
    if span is None:
        return Response(content=data, media_type=content_type_for(key), headers=headers)
    first, last = span
    headers["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
    return Response(
        content=data[first : last + 1],
        status_code=status.HTTP_206_PARTIAL_CONTENT,
        media_type=content_type_for(key),
        headers=headers,
    )
