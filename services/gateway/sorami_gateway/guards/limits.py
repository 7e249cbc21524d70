"""Per-user abuse limits on creating generations, shared by every gateway replica.

Two limits, both answered 429 with ``Retry-After``:

- a **rate limit**: at most ``rate_limit_generations`` creates in any sliding window of
  ``rate_limit_window_s`` seconds (exact: the user's ``generation_quotas`` row keeps the start
  times of the creates still in the window, at most N of them);
- a **cap on unfinished jobs**: at most ``max_unfinished_jobs`` of the user's generations
  PENDING or PROCESSING at once (the GPU is the expensive thing).

The state lives in PostgreSQL, the database the create is written to anyway. The check, the
charge and the generation insert are one statement (``sorami_admit_generation``, migration
0006, called by :mod:`sorami_gateway.generations.admission`): it takes the user's quota row
(an upsert, locked until the statement's transaction ends) before anything is counted, which
serializes one user's creates across all replicas (other users are never blocked); the
timestamps come from the database clock, so the replicas' clocks do not matter. A refused or
failed create consumes nothing. The window arithmetic, in SQL:

- the creates counted are those with a start time after ``now - window``;
- with ``n >= limit`` of them, the wait is until the ``limit``-th newest leaves the window,
  in whole seconds rounded up, at least 1;
- after a create the row keeps the newest ``limit - 1`` of them and ``now``.

Here: the refusals, as the routes raise them.
"""

from __future__ import annotations

from ..settings import GatewaySettings

RATE = "rate"  # rate_limit_generations per rate_limit_window_s
UNFINISHED = "unfinished_jobs"  # max_unfinished_jobs
BATCH_JOBS = "batch_jobs"  # max_unfinished_batch_jobs (POST /api/batches)


class LimitExceeded(Exception):
    """A per-user limit refuses this create (429); ``limit`` says which (``rate`` or
    ``unfinished_jobs``), ``reason`` says it in words with its figures."""

    def __init__(self, reason: str, retry_after_s: int, limit: str = RATE) -> None:
        super().__init__(reason)
        self.reason = reason
        self.limit = limit
        self.retry_after_s = max(1, retry_after_s)


def rate_refusal(settings: GatewaySettings, wait_s: int) -> LimitExceeded:
    """The rate limit's refusal, ``wait_s`` seconds before one more create fits."""
    limit, window_s = settings.rate_limit_generations, settings.rate_limit_window_s
    return LimitExceeded(f"rate limit: {limit} generations per {window_s} s", wait_s, RATE)


def cap_refusal(settings: GatewaySettings) -> LimitExceeded:
    """The unfinished-jobs cap's refusal."""
    return LimitExceeded(
        f"too many unfinished generations (at most {settings.max_unfinished_jobs} at once)",
        settings.unfinished_jobs_retry_after_s,
        UNFINISHED,
    )
