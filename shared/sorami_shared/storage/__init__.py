"""Object storage: one interface, two backends (a local directory, and S3 via aioboto3).

Keys look like ``{kind}/{job_id}/{index}.{ext}``. The generator writes; the gateway reads
(serves local files behind signed URLs, presigns S3 URLs) and deletes.
"""

from __future__ import annotations

from typing import Protocol

from .settings import StorageSettings


class StorageError(RuntimeError):
    """The storage backend could not be reached or refused the operation (transient)."""


class ObjectNotFound(StorageError):
    pass


class Storage(Protocol):
    async def ensure_ready(self) -> None:
        """Check the backend is reachable; creates the bucket/directory where allowed."""

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Write (or overwrite) ``key``."""

    async def get(self, key: str) -> bytes:
        """Read ``key``; raises :class:`ObjectNotFound`."""

    async def exists(self, key: str) -> bool: ...

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``; returns how many were deleted."""

    async def presigned_url(self, key: str, expires_in: int) -> str | None:
        """A URL a browser can GET, or None where the gateway must serve it (local)."""

    async def presigned_put_url(
        self, key: str, expires_in: int, *, content_length: int
    ) -> str | None:
        """A URL a client can PUT exactly ``content_length`` bytes to (None: local)."""

    async def size(self, key: str) -> int:
        """The object's size in bytes; raises :class:`ObjectNotFound`."""

    async def close(self) -> None: ...


def make_storage(settings: StorageSettings) -> Storage:
    """Build the backend named by ``settings.storage_backend``."""
    if settings.storage_backend == "s3":
        from .s3 import S3Storage

        return S3Storage(settings)
    from .local import LocalStorage

    return LocalStorage(settings)


__all__ = [
    "ObjectNotFound",
    "Storage",
    "StorageError",
    "StorageSettings",
    "make_storage",
]
