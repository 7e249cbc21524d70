"""Generator settings (env prefix ``SORAMI_GENERATOR_``) and the model registry's entries.

Models come from three places, later ones overriding earlier ones by name:

1. the built-ins ``tiny-image`` and ``tiny-video`` (random weights, built on first use);
2. ``SORAMI_GENERATOR_MODELS_FILE``: a JSON or YAML file holding a mapping name → model;
3. ``SORAMI_GENERATOR_MODELS``: the same mapping as JSON in the environment.

A model entry::

    {"source": "stabilityai/sd-turbo",        # hub id or local directory
     "kind": "image",                          # image | video
     "pipeline": "auto",                       # a diffusers class name, or auto (model_index.json)
     "defaults": {"guidance_scale": 0.0},      # extra pipeline kwargs / num_frames / fps
     "max_width": 1024, "max_height": 1024, "max_steps": 50}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict
from sorami_shared.events import Kind
from sorami_shared.settings import ServiceSettings
from sorami_shared.storage.settings import StorageSettings

BUILTIN_PREFIX = "builtin:"


class ModelSpec(BaseModel):
    """One entry of the model registry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(description="hub id, local directory, or builtin:<tiny-model>")
    kind: Kind
    pipeline: str = Field(default="auto", description="diffusers pipeline class name, or auto")
    defaults: dict[str, Any] = Field(default_factory=dict)
    variant: str | None = None
    revision: str | None = None
    # What the model can take; a request outside these limits fails with invalid_parameters.
    size_multiple: int = 8
    max_width: int = 2048
    max_height: int = 2048
    max_steps: int = 200
    max_images: int = 8
    max_frames: int = 256
    max_guidance_scale: float = 50.0
    # Batching and speed (docs/batching.md): compile the denoiser (and VAE decoder) with
    # torch.compile, warmed up at start; cap one pipeline call's images (videos x frames).
    compile: bool = False
    max_batch_images: int | None = Field(default=None, ge=1)

    @property
    def builtin(self) -> str | None:
        return (
            self.source[len(BUILTIN_PREFIX) :] if self.source.startswith(BUILTIN_PREFIX) else None
        )


BUILTIN_MODELS: dict[str, ModelSpec] = {
    "tiny-image": ModelSpec(
        source=f"{BUILTIN_PREFIX}tiny-image",
        kind=Kind.IMAGE,
        pipeline="StableDiffusionPipeline",
        max_width=512,
        max_height=512,
        max_steps=50,
    ),
    "tiny-video": ModelSpec(
        source=f"{BUILTIN_PREFIX}tiny-video",
        kind=Kind.VIDEO,
        pipeline="AnimateDiffPipeline",
        defaults={"num_frames": 8, "fps": 8},
        max_width=256,
        max_height=256,
        max_steps=50,
        max_frames=32,  # the tiny motion adapter's max_seq_length
    ),
}


class GeneratorSettings(ServiceSettings, StorageSettings):
    model_config = SettingsConfigDict(env_prefix="SORAMI_GENERATOR_", extra="ignore")

    models: dict[str, ModelSpec] = Field(
        default_factory=dict, description="JSON: name → model entry (added to the built-ins)"
    )
    models_file: Path | None = Field(default=None, description="JSON or YAML: name → model")
    model_cache_dir: Path = Path(".data/models")
    preload_models: list[str] = Field(default_factory=list, description="loaded at start")

    # Cross-job batching (docs/batching.md). None = the device's default (batching.py).
    max_batch: int | None = Field(default=None, ge=1, description="jobs in one pipeline call")
    max_batch_images: int | None = Field(
        default=None, ge=1, description="images (videos x frames) in one pipeline call"
    )
    batch_window_ms: float | None = Field(
        default=None, ge=0, description="wait for batch-mates, only while work is running"
    )
    prefetch: int | None = Field(default=None, ge=1, description="default: 2 x max_batch")
    compile_buckets: list[int] = Field(
        default=[1, 2, 4, 8, 16, 32, 64], description="padded batch sizes of compiled models"
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    max_cached_pipelines: int = Field(default=2, ge=1)
    max_cached_pipeline_gb: float | None = Field(
        default=None, description="evict least recently used pipelines beyond this size"
    )

    shutdown_grace_s: float = Field(default=30.0, ge=0)
    # A job running longer is stopped and failed (timed_out). Keep it below the broker's
    # consumer_timeout (30 min by default), which would otherwise close the channel and
    # redeliver a job that is still running (docs/reliability.md).
    max_job_s: float = Field(default=1500.0, gt=0)
    progress_min_interval_s: float = Field(default=0.25, ge=0)
    # Cancel signals remembered, so that a job cancelled while queued never runs (cancels.py).
    cancel_memory_s: float = Field(default=3600.0, gt=0)
    cancel_memory_max: int = Field(default=10_000, ge=1)
    storage_retry_attempts: int = Field(default=4, ge=1)
    storage_retry_backoff_s: float = Field(default=0.5, ge=0)
    storage_retry_backoff_max_s: float = Field(default=5.0, ge=0)

    @field_validator("models", mode="before")
    @classmethod
    def _models_from_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    _registry: dict[str, ModelSpec] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _build_registry(self) -> GeneratorSettings:
        merged = dict(BUILTIN_MODELS)
        if self.models_file is not None:
            merged.update(load_models_file(self.models_file))
        merged.update(self.models)
        self._registry = merged
        unknown = [m for m in self.preload_models if m not in self.registry]
        if unknown:
            raise ValueError(f"preload_models names unknown models: {unknown}")
        return self

    @property
    def registry(self) -> dict[str, ModelSpec]:
        """Every configured model: built-ins, then the file, then ``models``."""
        return self._registry


def load_models_file(path: Path) -> dict[str, ModelSpec]:
    text = Path(path).read_text()
    if Path(path).suffix.lower() in {".yaml", ".yml"}:
        import yaml

        raw = yaml.safe_load(text) or {}
    else:
        raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of model name to model entry")
    raw = raw.get("models", raw) if isinstance(raw.get("models"), dict) else raw
    return {name: ModelSpec.model_validate(entry) for name, entry in raw.items()}
