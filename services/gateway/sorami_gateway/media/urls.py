"""Fetchable URLs for stored files: presigned by the storage backend (S3), or signed,
expiring gateway URLs (``/media/...``) where the backend has none (local)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sorami_shared.logging import get_logger
from sorami_shared.storage import Storage, StorageError, make_storage

from ..rest.deps import Component
from ..settings import GatewaySettings
from .signing import signed_media_url

log = get_logger(__name__)


def open_storage(settings: GatewaySettings) -> Storage | None:
    """The configured storage, or None when it cannot be opened (URLs still work; reading a
    file answers 503)."""
    try:
        return make_storage(settings)
    except Exception as exc:  # noqa: BLE001 - the caller degrades, it does not die
        log.error("storage backend unavailable", backend=settings.storage_backend, error=repr(exc))
        return None


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


storage_component: Component[Storage | None] = Component("storage")
media_urls_component: Component[MediaUrls] = Component("media_urls")
StorageDep = Annotated[Storage | None, Depends(storage_component)]
MediaUrlsDep = Annotated[MediaUrls, Depends(media_urls_component)]
