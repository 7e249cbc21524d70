"""A model that cannot load (missing dependency, broken directory, out of memory at load, a
weights source that cannot be read) ends its jobs FAILED at once with ``model_unavailable``
and the loader's message; it is not loaded again for every attempt of every job.

:class:`LoadFailures` remembers each model's last failure and refuses new loads of it until
its backoff is over (``MODEL_RETRY_BACKOFF_S``, doubling per consecutive failure up to
``MODEL_RETRY_BACKOFF_MAX_S``); jobs arriving meanwhile fail at once with the remembered
message. The first load after the backoff tries again; a success forgets the failure. Other
models are served as usual.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sorami_shared.events import FailureCode
from sorami_shared.logging import get_logger

from . import metrics
from .devices import is_out_of_memory
from .errors import JobFailed

log = get_logger(__name__)


class ModelUnavailable(JobFailed):
    def __init__(self, reason: str) -> None:
        super().__init__(FailureCode.MODEL_UNAVAILABLE, reason)


@dataclass
class _Failure:
    message: str
    failures: int
    retry_at: float  # time.monotonic()


def failure_kind(exc: BaseException) -> str:
    """A closed set for the metric's label."""
    if isinstance(exc, ImportError):
        return "dependency"
    if is_out_of_memory(exc):
        return "out_of_memory"
    if isinstance(exc, OSError):
        return "files"
    return "other"


class LoadFailures:
    def __init__(self, backoff_s: float = 60.0, backoff_max_s: float = 900.0) -> None:
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self._failed: dict[str, _Failure] = {}

    def check(self, name: str) -> None:
        """Raise :class:`ModelUnavailable` while ``name`` is backing off after a failure."""
        failure = self._failed.get(name)
        if failure is None:
            return
        wait = failure.retry_at - time.monotonic()
        if wait > 0:
            raise ModelUnavailable(f"{failure.message} (next load attempt in {wait:.0f} s)")

    def failed(self, name: str, exc: BaseException) -> ModelUnavailable:
        """Record a failed load; the error to fail the job with."""
        previous = self._failed.get(name)
        count = (previous.failures if previous else 0) + 1
        backoff = min(self.backoff_max_s, self.backoff_s * 2 ** (count - 1))
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        message = f"model {name!r} cannot be loaded: {type(exc).__name__}: {detail}"[:1500]
        self._failed[name] = _Failure(message, count, time.monotonic() + backoff)
        kind = failure_kind(exc)
        log.error(
            "model load failed",
            model=name,
            failure=kind,
            consecutive_failures=count,
            retry_in_s=backoff,
            error=message,
        )
        metrics.model_load_failed(name, kind)
        return ModelUnavailable(message)

    def loaded(self, name: str) -> None:
        if self._failed.pop(name, None) is not None:
            log.info("model loaded after earlier failures", model=name)
        metrics.model_load_recovered(name)

    def unavailable(self) -> list[str]:
        now = time.monotonic()
        return [n for n, f in self._failed.items() if f.retry_at > now]
