"""Generator settings (env prefix ``SORAMI_GENERATOR_``).

The model registry (``MODELS_FILE``, ``MODELS``, the built-ins) is shared with the gateway:
:mod:`sorami_shared.model_registry`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict
from sorami_shared.model_registry import (  # noqa: F401 - re-exported for the generator's modules
    BUILTIN_MODELS,
    ModelRegistrySettings,
    ModelSpec,
    load_models_file,
)
from sorami_shared.output_options import OutputSettings
from sorami_shared.settings import ServiceSettings
from sorami_shared.storage.settings import StorageSettings


class GeneratorSettings(ServiceSettings, StorageSettings, ModelRegistrySettings, OutputSettings):
    model_config = SettingsConfigDict(env_prefix="SORAMI_GENERATOR_", extra="ignore")

    model_cache_dir: Path = Path(".data/models")
    preload_models: list[str] = Field(default_factory=list, description="loaded at start")
    # The models whose queues (generator.requests.<model>) this generator consumes; empty:
    # every model of its registry. (``MODELS`` is taken: it adds registry entries.) A model
    # named here but not in the registry is consumed and its jobs fail unknown_model.
    serve_models: list[str] = Field(
        default_factory=list, description="models served (their queues); default: all"
    )

    # Cross-job batching (docs/batching.md). None = the device's default (batching.py).
    max_batch: int | None = Field(default=None, ge=1, description="jobs in one pipeline call")
    max_batch_images: int | None = Field(
        default=None, ge=1, description="images (videos x frames) in one pipeline call"
    )
    batch_window_ms: float | None = Field(
        default=None, ge=0, description="wait for batch-mates, only while work is running"
    )
    prefetch: int | None = Field(default=None, ge=1, description="default: 2 x max_batch + 4")
    compile_buckets: list[int] = Field(
        default=[1, 2, 4, 8, 16, 32, 64], description="padded batch sizes of compiled models"
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    max_cached_pipelines: int = Field(default=2, ge=1)
    max_cached_pipeline_gb: float | None = Field(
        default=None, description="evict least recently used pipelines beyond this size"
    )

    # A model that failed to load is not tried again before this (doubling per consecutive
    # failure, up to the max); meanwhile its jobs fail model_unavailable at once.
    model_retry_backoff_s: float = Field(default=60.0, ge=0)
    model_retry_backoff_max_s: float = Field(default=900.0, ge=0)

    shutdown_grace_s: float = Field(default=30.0, ge=0)
    # A job running longer is stopped and failed (timed_out). Keep it below the broker's
    # consumer_timeout (30 min by default), which would otherwise close the channel and
    # redeliver a job that is still running (docs/reliability.md).
    max_job_s: float = Field(default=1500.0, gt=0)
    progress_min_interval_s: float = Field(default=0.25, ge=0)
    # At most this many progress events per job after its 0 % (percent rises by 95 / this at
    # least between two), however many steps it has.
    progress_max_events: int = Field(default=10, ge=1)
    # A job's 0 % start waits this long: a job done by then sends no progress (progress.py).
    progress_start_delay_s: float = Field(default=0.05, ge=0)
    # Cancel signals remembered, so that a job cancelled while queued never runs (cancels.py).
    cancel_memory_s: float = Field(default=3600.0, gt=0)
    cancel_memory_max: int = Field(default=10_000, ge=1)
    # Live previews (previews.py): at most this many per image job (0: none), this far apart,
    # this many px on the longer side, in this format and quality.
    preview_max: int = Field(default=4, ge=0, le=4)
    preview_min_interval_s: float = Field(default=0.25, ge=0)
    preview_size: int = Field(default=256, ge=16, le=256)
    preview_format: Literal["webp", "jpeg"] = "webp"
    preview_quality: int = Field(default=60, ge=1, le=100)
    # Images are encoded on a pool of this many threads (None: one per core), shared by jobs.
    encode_threads: int | None = Field(default=None, ge=1)
    # torch's intra-op threads for work on the CPU (None: torch's default, one per core). Set
    # it to the cores this process may use when it shares them: threads that outnumber free
    # cores spin-wait (2 generators beside the services on 2 cores: 1 each runs a tiny model
    # ~3x faster than the default, docs/scaling.md).
    torch_threads: int | None = Field(default=None, ge=1)
    storage_retry_attempts: int = Field(default=4, ge=1)
    storage_retry_backoff_s: float = Field(default=0.5, ge=0)
    storage_retry_backoff_max_s: float = Field(default=5.0, ge=0)

    @model_validator(mode="after")
    def _preloads_exist(self) -> GeneratorSettings:
        unknown = [m for m in self.preload_models if m not in self.registry]
        if unknown:
            raise ValueError(f"preload_models names unknown models: {unknown}")
        return self

    @property
    def served(self) -> list[str]:
        """The models whose queues this generator consumes."""
        return sorted(self.serve_models or self.registry)
