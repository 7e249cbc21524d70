"""Upload settings: ``SORAMI_GATEWAY_UPLOADS__<FIELD>`` (one nested block of the gateway's
settings; see :mod:`sorami_gateway.uploads`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class UploadSettings(BaseModel):
    max_bytes: int = Field(default=20 * 1024 * 1024, ge=1, description="one file, bytes")
    max_pixels: int = Field(
        default=4096 * 4096, ge=1, description="width x height; checked before decoding"
    )
    quota_bytes: int = Field(
        default=500 * 1024 * 1024, ge=1, description="one user's live uploads, bytes in all"
    )
    ttl_s: int = Field(
        default=24 * 3600, ge=1, description="an upload is deleted this long after it is made"
    )
    presign_ttl_s: int = Field(
        default=900, ge=1, le=7 * 24 * 3600, description="S3 direct upload: the PUT URL's life"
    )
    janitor_batch: int = Field(default=100, ge=1, description="expired uploads per pass")
