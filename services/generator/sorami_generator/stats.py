"""How busy the device is: time inside pipeline calls against the gaps between them."""

from __future__ import annotations

from collections import Counter


class DeviceStats:
    def __init__(self) -> None:
        self.busy_s = 0.0
        self.batches = 0
        self.sizes: Counter[int] = Counter()  # jobs per call -> calls
        self.first_start: float | None = None
        self.last_end: float | None = None

    def ran(self, started: float, ended: float, jobs: int) -> None:
        """One pipeline call, in ``time.monotonic`` seconds."""
        self.busy_s += ended - started
        self.batches += 1
        self.sizes[jobs] += 1
        if self.first_start is None:
            self.first_start = started
        self.last_end = ended

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    @property
    def idle_fraction(self) -> float:
        """Share of the span from the first call's start to the last one's end spent between
        calls. Meaningful under load (a benchmark's burst), where jobs were always waiting."""
        if self.first_start is None or self.last_end is None:
            return 0.0
        span = self.last_end - self.first_start
        return max(0.0, 1.0 - self.busy_s / span) if span > 0 else 0.0
