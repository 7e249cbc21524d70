"""From a model entry's ``source`` to what ``from_pretrained`` takes: a path or hub id and the
keyword arguments that go with it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sorami_shared.logging import get_logger
from sorami_shared.model_registry import ModelSpec

from ..tiny_models import ensure_built
from .s3_sync import sync_s3

log = get_logger(__name__)

TRUTHY = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class S3Access:
    """How ``s3://`` weights are read: the generator's S3 endpoint and credentials (None:
    boto3's own resolution, e.g. ``AWS_*`` variables or an instance role)."""

    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(retries={"max_attempts": 4, "mode": "standard"}),
        )


@dataclass(frozen=True)
class Located:
    source: str  # a local directory or a hub id
    kwargs: dict[str, Any] = field(default_factory=dict)


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in TRUTHY


def locate(spec: ModelSpec, cache_dir: Path, s3: S3Access | None = None) -> Located:
    """Blocking (an s3 sync downloads): where ``from_pretrained`` finds ``spec``'s weights."""
    if spec.builtin is not None:
        return Located(str(ensure_built(spec.builtin, cache_dir)))
    source = spec.source
    if source.startswith("s3://"):
        report = sync_s3(source, Path(cache_dir) / "s3", (s3 or S3Access()).client)
        return Located(str(report.path))
    if Path(source).expanduser().is_dir():
        return Located(str(Path(source).expanduser()))
    if source.startswith(("/", "./", "../", "~")):
        raise FileNotFoundError(f"model directory {source} does not exist")
    kwargs: dict[str, Any] = {"cache_dir": str(Path(cache_dir) / "hub")}
    if spec.revision:
        kwargs["revision"] = spec.revision
    else:
        log.warning("hub model without a pinned revision: it follows the branch", source=source)
    if hub_offline():  # read per load, not only at import (huggingface_hub reads it once)
        kwargs["local_files_only"] = True
    return Located(source, kwargs)
