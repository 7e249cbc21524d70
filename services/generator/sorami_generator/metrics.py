"""The generator's Prometheus metrics: the pipeline (seconds, batch size, device busy), encode
and upload, loaded models, out-of-memory errors, and job outcomes.

Labels: model (a registry name: only models the registry resolved reach these calls), kind,
outcome, failure code: closed sets.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Iterator

from prometheus_client import Counter, Gauge, Histogram

STAGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
BUSY_WINDOW_S = 60.0

PIPELINE_SECONDS = Histogram(
    "sorami_generator_pipeline_seconds",
    "One pipeline call (all denoising steps and decoding), by model",
    ["model"],
    buckets=STAGE_BUCKETS,
)
BATCH_SIZE = Histogram(
    "sorami_generator_batch_size",
    "Jobs served by one pipeline call, by model",
    ["model"],
    buckets=(1, 2, 4, 8, 16, 32),
)
DEVICE_BUSY_SECONDS = Counter(
    "sorami_generator_device_busy_seconds_total",
    "Seconds the device spent in pipeline calls (rate() = busy fraction)",
)
DEVICE_BUSY_RATIO = Gauge(
    "sorami_generator_gpu_busy_ratio",
    f"Fraction of the last {BUSY_WINDOW_S:g} s the device (GPU, or CPU) ran a pipeline",
)
ENCODE_SECONDS = Histogram(
    "sorami_generator_encode_seconds",
    "Encoding a job's outputs (PNG, MP4)",
    ["kind"],
    buckets=STAGE_BUCKETS,
)
UPLOAD_SECONDS = Histogram(
    "sorami_generator_upload_seconds",
    "Writing a job's files to storage",
    ["kind"],
    buckets=STAGE_BUCKETS,
)
MODELS_LOADED = Gauge("sorami_generator_models_loaded", "Pipelines held in memory")
MODEL_LOAD_SECONDS = Histogram(
    "sorami_generator_model_load_seconds",
    "Loading and placing one pipeline",
    ["model"],
    buckets=STAGE_BUCKETS,
)
MODEL_LOAD_FAILURES = Counter(
    "sorami_generator_model_load_failures_total",
    "Failed model loads, by model and failure (dependency, files, out_of_memory, other)",
    ["model", "failure"],
)
MODEL_UNAVAILABLE = Gauge(
    "sorami_generator_model_unavailable",
    "1 while a model's last load failed (its jobs fail model_unavailable), else 0",
    ["model"],
)
OUT_OF_MEMORY = Counter("sorami_generator_oom_total", "Out-of-memory failures", ["model"])
JOBS = Counter(
    "sorami_generator_jobs_total",
    "Jobs this generator ended, by kind, outcome (completed, failed, cancelled) and code",
    ["kind", "outcome", "code"],
)


class _BusyWindow:
    """Busy time over the last ``window_s`` seconds, including a call still running."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._lock = threading.Lock()
        self._spans: deque[tuple[float, float]] = deque()
        self._since: float | None = None

    def begin(self) -> None:
        with self._lock:
            self._since = time.monotonic()

    def end(self) -> float:
        with self._lock:
            now = time.monotonic()
            since, self._since = self._since or now, None
            self._spans.append((since, now))
            return now - since

    def ratio(self) -> float:
        with self._lock:
            now = time.monotonic()
            low = now - self.window_s
            while self._spans and self._spans[0][1] <= low:
                self._spans.popleft()
            busy = sum(end - max(start, low) for start, end in self._spans)
            if self._since is not None:
                busy += now - max(self._since, low)
            return min(1.0, busy / self.window_s)


_busy = _BusyWindow(BUSY_WINDOW_S)
DEVICE_BUSY_RATIO.set_function(_busy.ratio)


@contextlib.contextmanager
def pipeline_call(model: str, *, batch_size: int = 1) -> Iterator[None]:
    """Around one pipeline call (in its thread): seconds, batch size, device busy time."""
    _busy.begin()
    try:
        yield
    finally:
        seconds = _busy.end()
        PIPELINE_SECONDS.labels(model).observe(seconds)
        BATCH_SIZE.labels(model).observe(batch_size)
        DEVICE_BUSY_SECONDS.inc(seconds)


def outputs_written(kind: str, encode_s: float, upload_s: float) -> None:
    ENCODE_SECONDS.labels(kind).observe(encode_s)
    UPLOAD_SECONDS.labels(kind).observe(upload_s)


def model_loaded(model: str, seconds: float) -> None:
    MODEL_LOAD_SECONDS.labels(model).observe(seconds)


def model_load_failed(model: str, failure: str) -> None:
    MODEL_LOAD_FAILURES.labels(model, failure).inc()
    MODEL_UNAVAILABLE.labels(model).set(1)


def model_load_recovered(model: str) -> None:
    MODEL_UNAVAILABLE.labels(model).set(0)


def out_of_memory(model: str) -> None:
    OUT_OF_MEMORY.labels(model).inc()


def job_ended(kind: str, outcome: str, code: str | None = None) -> None:
    JOBS.labels(kind, outcome, code or outcome).inc()
