"""Which ready jobs share the next pipeline call (pure logic; docs/batching.md).

Jobs are compatible when everything but their prompts and seeds is equal: the call's key.
The next call takes the ready jobs of one key, round-robin across users, up to ``max_jobs``
jobs and ``max_images`` images (videos count frames), always at least one job.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from .families import PER_JOB_KWARGS
from .requests import PlannedCall

CPU_DEFAULTS = {"max_batch": 8, "max_batch_images": 32, "batch_window_ms": 20.0}
CUDA_DEFAULTS = {"max_batch": 64, "max_batch_images": 64, "batch_window_ms": 5.0}
# The default prefetch: a call running, a full one ready, and room for the jobs the gateway's
# scheduler keeps for interactive users (its default SCHEDULER_INTERACTIVE_RESERVE), so a bulk
# job alone still fills every call and an interactive job still joins the next one.
INTERACTIVE_ROOM = 4


@dataclass(frozen=True)
class BatchLimits:
    max_batch: int
    max_batch_images: int
    window_s: float

    @classmethod
    def resolve(cls, settings: Any, *, cuda: bool) -> BatchLimits:
        """The settings' values, or the device's defaults where they are None."""
        d = CUDA_DEFAULTS if cuda else CPU_DEFAULTS
        pick = lambda name: d[name] if getattr(settings, name) is None else getattr(settings, name)  # noqa: E731
        return cls(pick("max_batch"), pick("max_batch_images"), pick("batch_window_ms") / 1000)

    def prefetch(self, settings: Any) -> int:
        """Deliveries held at once: the setting, else 2 x max_batch + ``INTERACTIVE_ROOM``."""
        return settings.prefetch or 2 * self.max_batch + INTERACTIVE_ROOM


def call_key(call: PlannedCall) -> Hashable:
    """Equal for calls that one pipeline call can serve together: everything but the prompts,
    negatives and seeds, and whether there is a negative prompt (for SDXL a missing negative
    and ``""`` differ; for FLUX/HunyuanVideo it switches true CFG on)."""
    shared = tuple(sorted((k, repr(v)) for k, v in call.kwargs.items() if k not in PER_JOB_KWARGS))
    negative = call.kwargs.get("negative_prompt") is not None
    mode = call.extra.get("mode")  # img2img / inpaint (inputs.py): another pipeline
    decoder = call.extra.get("decoder")  # draft jobs (tiny autoencoder) batch apart
    return (call.model, mode, call.kind, call.num_frames, call.fps, negative, decoder, shared)


def images_of(call: PlannedCall) -> int:
    """What one job weighs in a batch: images, or videos x frames."""
    return call.outputs * (call.num_frames or 1)


class Waiting(Protocol):
    user: str
    key: Hashable
    images: int


T = TypeVar("T", bound=Waiting)


class FairQueue(Generic[T]):
    """Ready jobs by user, in arrival order; the user served longest ago (or never) first."""

    def __init__(self) -> None:
        self._by_user: dict[str, list[T]] = {}
        self._served: dict[str, int] = {}  # user -> tick of their last batch, while waiting
        self._tick = 0

    def __len__(self) -> int:
        return sum(len(jobs) for jobs in self._by_user.values())

    def __iter__(self) -> Iterator[T]:
        for jobs in list(self._by_user.values()):
            yield from jobs

    def _users(self) -> list[str]:
        return sorted(self._by_user, key=lambda u: self._served.get(u, -1))  # stable: arrival

    def head(self) -> T | None:
        """The oldest job of the next user to serve: it sets the next call's key."""
        users = self._users()
        return self._by_user[users[0]][0] if users else None

    def add(self, item: T) -> None:
        self._by_user.setdefault(item.user, []).append(item)

    def remove(self, item: T) -> None:
        jobs = self._by_user.get(item.user, [])
        if item in jobs:
            jobs.remove(item)
        if not jobs:
            self._by_user.pop(item.user, None)
            self._served.pop(item.user, None)

    def plan(self, max_jobs: int, max_images: int) -> list[T]:
        """The next call's jobs (not removed): the key of the first user's oldest job, then
        one job per user per round while they fit."""
        head = self.head()
        if head is None:
            return []
        key = head.key
        queues = [[j for j in self._by_user[u] if j.key == key] for u in self._users()]
        chosen: list[T] = []
        images = 0
        while any(queues) and len(chosen) < max_jobs:
            for queue in queues:
                if not queue or len(chosen) >= max_jobs:
                    continue
                if chosen and images + queue[0].images > max_images:
                    queue.clear()  # keep this user's order: no overtaking by a smaller job
                    continue
                job = queue.pop(0)
                chosen.append(job)
                images += job.images
        return chosen

    def take(self, jobs: list[T]) -> None:
        """Remove ``jobs``; their users go to the back of the serving order."""
        self._tick += 1
        for job in jobs:
            self.remove(job)
            if job.user in self._by_user:
                self._served[job.user] = self._tick

    @staticmethod
    def is_full(jobs: list[T], max_jobs: int, max_images: int) -> bool:
        return len(jobs) >= max_jobs or sum(j.images for j in jobs) >= max_images
