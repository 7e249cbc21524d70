"""Fetchable URLs for stored files: presigned by the storage backend (S3), or signed,
expiring gateway URLs (``/media/...``) where the backend has none (local)."""

from __future__ import annotations

from sorami_shared.logging import get_logger
from sorami_shared.storage import Storage, StorageError

from .settings import GatewaySettings
from .signing import signed_media_url

log = get_logger(__name__)


class MediaUrls:
    def __init__(self, settings: GatewaySettings, storage: Storage | None) -> None:
        self.settings = settings
        self.storage = storage

    async def url(self, key: str) -> str:
        if self.storage is not None and self.settings.storage_backend != "local":
            try:
                presigned = await self.storage.presigned_url(key, self.settings.media_url_ttl_s)
            except StorageError as exc:  # the gateway can still serve it through /media
                log.warning("presigning failed; serving through the gateway", error=str(exc))
                presigned = None
            if presigned:
                return presigned
        return signed_media_url(
            self.settings.public_base_url,
            self.settings.media_secret,
            key,
            self.settings.media_url_ttl_s,
        )
