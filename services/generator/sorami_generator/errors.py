"""How a job can end other than in success."""

from __future__ import annotations

from sorami_shared.events import FailureCode


class JobFailed(Exception):
    """The job cannot succeed: publish ``generation.failed`` with this code and reason."""

    def __init__(self, code: FailureCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class TransientError(Exception):
    """Worth retrying later (storage unreachable...); fails the job on its last delivery."""

    def __init__(self, code: FailureCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class JobAborted(Exception):
    """The worker is shutting down and gave up on the job; it stays unacknowledged."""
