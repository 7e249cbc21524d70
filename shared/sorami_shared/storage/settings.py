"""Storage settings, mixed into each service's settings (same field names, service prefix)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, SecretStr


class StorageSettings(BaseModel):
    storage_backend: Literal["local", "s3"] = "local"
    storage_local_dir: Path = Path(".data/media")
    s3_endpoint_url: str | None = None
    # What browsers use to reach S3 when it differs from the services' endpoint.
    s3_public_endpoint_url: str | None = None
    s3_bucket: str = "sorami"
    s3_region: str = "us-east-1"
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_create_bucket: bool = False
    # S3 client behaviour (botocore): fail fast, the caller retries with its own backoff.
    s3_connect_timeout_s: float = 3.0
    s3_read_timeout_s: float = 30.0
    s3_max_attempts: int = 2
