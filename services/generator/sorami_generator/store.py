"""Writing a job's files to storage (retried with back-off) and removing them again."""

from __future__ import annotations

import asyncio

from sorami_shared.events import FailureCode, GenerationRequested
from sorami_shared.logging import get_logger
from sorami_shared.storage import Storage, StorageError

from .errors import TransientError
from .outputs import Blob
from .settings import GeneratorSettings

log = get_logger(__name__)


class JobStorage:
    def __init__(self, storage: Storage, settings: GeneratorSettings) -> None:
        self.storage = storage
        self.settings = settings
        self._ready = False

    async def put(self, blobs: list[Blob]) -> None:
        s = self.settings
        delay = s.storage_retry_backoff_s
        for attempt in range(1, s.storage_retry_attempts + 1):
            try:
                if not self._ready:
                    await self.storage.ensure_ready()
                    self._ready = True
                # Posters before their videos: a listed video's poster always exists.
                posters = [b for b in blobs if b.is_poster]
                for group in (posters, [b for b in blobs if not b.is_poster]):
                    await asyncio.gather(
                        *(self.storage.put(b.key, b.data, b.content_type) for b in group)
                    )
                return
            except StorageError as exc:
                if attempt == s.storage_retry_attempts:
                    raise TransientError(
                        FailureCode.STORAGE_UNAVAILABLE, f"storage unavailable: {exc}"
                    ) from exc
                log.warning(
                    "storage write failed, retrying", error=str(exc), attempt=attempt, in_s=delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, s.storage_retry_backoff_max_s)

    async def remove(self, job: GenerationRequested) -> bool:
        """Delete whatever this job may have stored; False if storage would not let us."""
        prefix = f"{job.kind.value}/{job.job_id}/"
        for attempt in range(1, self.settings.storage_retry_attempts + 1):
            try:
                await self.storage.delete_prefix(prefix)
                return True
            except StorageError as exc:
                log.warning(
                    "removing a cancelled job's files failed", error=str(exc), attempt=attempt
                )
                await asyncio.sleep(self.settings.storage_retry_backoff_s * attempt)
        return False
