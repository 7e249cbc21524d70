"""Where a job's time went: the pipeline call vs everything around it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sorami_shared.events import GenerationRequested
from sorami_shared.logging import get_logger

log = get_logger(__name__)


class JobTimings:
    def __init__(self, queued_at: datetime) -> None:
        self.started = time.perf_counter()
        self.queue_s = max(0.0, (datetime.now(UTC) - queued_at).total_seconds())
        self.load_s = self.wait_s = self.model_s = self.encode_s = self.storage_s = 0.0
        self.events_s = 0.0
        self.bytes = 0

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    def as_dict(self) -> dict[str, float]:
        total = self.elapsed_s()
        return {
            "queue_s": round(self.queue_s, 4),
            "load_s": round(self.load_s, 4),
            "batch_wait_s": round(self.wait_s, 4),
            "model_s": round(self.model_s, 4),
            "encode_s": round(self.encode_s, 4),
            "storage_s": round(self.storage_s, 4),
            "events_s": round(self.events_s, 4),
            "total_s": round(total, 4),
            "overhead_s": round(total - self.model_s - self.load_s - self.wait_s, 4),
        }

    def log_completed(self, job: GenerationRequested, attempt: int) -> None:
        log.info(
            "job completed",
            model=job.params.model,
            kind=job.kind.value,
            attempt=attempt,
            bytes=self.bytes,
            **self.as_dict(),
        )
