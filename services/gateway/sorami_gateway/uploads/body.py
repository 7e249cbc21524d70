"""Reading ``POST /api/uploads``: a multipart/form-data body with one ``file`` part, within
the size cap (refused with 413 before it is all buffered), and the refusals' answers: each
names the field (``{"detail": [{"loc": ["body", "file"], "msg", "type"}]}``)."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from ..rest.bodies import read_body

FIELD = "file"
LIFETIME = "expires_after"  # seconds: a shorter life than the upload TTL
_FORM_OVERHEAD = 64 * 1024  # boundaries and part headers around the file


def refusal(status: int, msg: str, kind: str, field: str = FIELD) -> HTTPException:
    return HTTPException(status, [{"loc": ["body", field], "msg": msg, "type": kind}])


def too_large(limit: int) -> HTTPException:
    return refusal(413, f"the file is larger than {limit} bytes", "too_large")


def lifetime_of(value: object, most_s: int) -> int | None:
    """The ``expires_after`` form field (seconds, at most ``most_s``: the upload TTL)."""
    if value is None:
        return None
    try:
        seconds = int(str(value))
    except ValueError:
        seconds = 0
    if not 1 <= seconds <= most_s:
        raise refusal(422, f"must be whole seconds, 1 to {most_s}", "value_error", LIFETIME)
    return seconds


async def read_file(request: Request, limit: int, most_s: int) -> tuple[bytes, int | None]:
    """The ``file`` part's bytes (at most ``limit``) and the ``expires_after`` field, if any
    (seconds; at most ``most_s``)."""
    media = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if media != "multipart/form-data":
        raise refusal(
            415, "send multipart/form-data with the image in a part named 'file'", "media_type"
        )
    try:
        body = await read_body(request, limit + _FORM_OVERHEAD)
    except HTTPException as exc:
        if exc.status_code == 413:
            raise too_large(limit) from None
        raise

    async def stream() -> Any:
        yield body

    parser = MultiPartParser(request.headers, stream(), max_files=1, max_fields=8)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise refusal(400, f"malformed multipart body: {exc.message}", "multipart") from None
    try:
        part = form.get(FIELD)
        if not isinstance(part, UploadFile):
            raise refusal(422, "a file part named 'file' is required", "missing")
        data = await part.read(limit + 1)
        lifetime = lifetime_of(form.get(LIFETIME), most_s)
    finally:
        await form.close()
    if len(data) > limit:
        raise too_large(limit)
    return data, lifetime


# For the OpenAPI document (the route reads its body itself).
MULTIPART_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FIELD],
                    "properties": {
                        FIELD: {
                            "type": "string",
                            "format": "binary",
                            "description": "a PNG, JPEG or WebP image",
                        },
                        LIFETIME: {
                            "type": "integer",
                            "minimum": 1,
                            "description": "seconds; at most the upload TTL",
                        },
                    },
                }
            }
        },
    }
}
