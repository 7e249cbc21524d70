"""What ``/api/uploads`` answers."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class UploadPublic(BaseModel):
    upload_id: uuid.UUID
    status: str = Field(description="ready (usable as an input), or pending (a direct upload)")
    format: str | None = Field(description="png, jpeg or webp: from the file's content")
    mime_type: str | None
    width: int | None = Field(description="pixels, EXIF orientation applied")
    height: int | None
    bytes: int
    sha256: str | None = Field(description="hex digest of the stored file")
    created_at: datetime
    expires_at: datetime = Field(description="the upload and its file are deleted then")
    url: str | None = Field(description="a signed, expiring URL of the stored file")


class UploadPage(BaseModel):
    items: list[UploadPublic]
    next_cursor: str | None


class DirectUploadRequest(BaseModel):
    """Ask for a presigned PUT URL (S3 storage): the file then goes straight to storage."""

    model_config = {"extra": "forbid", "strict": True}

    bytes: int = Field(ge=1, description="the file's exact size (signed into the URL)")


class DirectUpload(BaseModel):
    upload: UploadPublic
    upload_url: str = Field(description="PUT the file's bytes here before expires_at")
    method: str = "PUT"
    headers: dict[str, str] = Field(description="send these headers with the PUT")
    complete_url: str = Field(description="then POST here (no body) to check and use it")
