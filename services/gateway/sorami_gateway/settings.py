"""Gateway settings (env prefix ``SORAMI_GATEWAY_``).

The request limits live here (operator caps) and in the shared model registry (each model's
defaults and limits, ``MODELS_FILE`` / ``MODELS``); the request models of
:mod:`sorami_gateway.generations.requests` are built from both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict
from sorami_shared.dev_tokens import DEVELOPMENT_JWT_SECRET, DEVELOPMENT_TOKEN_TTL_S
from sorami_shared.events import Kind
from sorami_shared.model_registry import ModelRegistrySettings
from sorami_shared.output_options import OutputSettings
from sorami_shared.settings import Environment, ServiceSettings
from sorami_shared.storage.settings import StorageSettings

from .upload_settings import UploadSettings
from .webhook_settings import WebhookSettings

# Used only when environment=development and no secret is configured; refused elsewhere.
# (The JWT one is sorami_shared.dev_tokens', shared with the sorami command line.)
DEVELOPMENT_MEDIA_SECRET = "sorami-development-media-secret-do-not-use-in-production"


class KindLimits(BaseModel):
    """Operator caps for one kind of generation, on top of each model's own limits (each
    field overridable alone, e.g. ``SORAMI_GATEWAY_IMAGE_LIMITS__MAX_NUM_IMAGES=2``). The
    defaults of a request come from its model (:mod:`sorami_shared.model_registry`)."""

    min_size: int = Field(default=8, ge=1, description="smallest width and height, px")
    max_size: int = Field(default=1024, ge=1, description="largest width and height, px")
    size_multiple: int = Field(default=8, ge=1, description="width and height divide by it")
    min_steps: int = Field(default=1, ge=1, description="fewest num_inference_steps")
    max_steps: int = Field(default=100, ge=1, description="most num_inference_steps")
    min_guidance_scale: float = Field(default=0.0, ge=0.0)
    max_guidance_scale: float = Field(default=30.0, ge=0.0)
    max_num_images: int = Field(default=4, ge=1, description="images per request (images)")
    max_num_frames: int = Field(default=64, ge=1, description="frames per video (videos)")
    max_fps: int = Field(default=60, ge=1, description="frames per second (videos)")

    @model_validator(mode="after")
    def _ranges(self) -> Self:
        for name in ("size", "steps", "guidance_scale"):
            if getattr(self, f"min_{name}") > getattr(self, f"max_{name}"):
                raise ValueError(f"min_{name} must not exceed max_{name}")
        return self


class ImageLimits(KindLimits):
    pass


class VideoLimits(KindLimits):
    pass


class GatewaySettings(ServiceSettings, StorageSettings, ModelRegistrySettings, OutputSettings):
    model_config = SettingsConfigDict(
        env_prefix="SORAMI_GATEWAY_", env_nested_delimiter="__", extra="ignore"
    )

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/sorami_gateway"
    # Per process. Keep the pool at least as large as the requests one worker has in flight
    # (a connection is held for one statement of a create or a status read): beyond it,
    # overflow connections are opened and closed per request (churn).
    db_pool_size: int = Field(default=20, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    workers: int = Field(
        default=1, ge=1, description="`sorami-gateway api` processes (make up: the cores)"
    )

    # --- auth ---
    jwt_secret: SecretStr | None = Field(
        default=None, description="HS256 secret; the built-in one is for development only"
    )
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_s: int = 30
    jwks_cache_s: int = 300
    jwks_min_refresh_interval_s: float = 10.0
    development_token_ttl_s: int = Field(default=DEVELOPMENT_TOKEN_TTL_S, gt=0)

    # --- requests (the model registry, MODELS_FILE / MODELS, is the generator's too) ---
    image_models: list[str] = Field(
        default=["tiny-image"], description="allow-list; the first is the default"
    )
    video_models: list[str] = Field(default=["tiny-video"], description="allow-list")
    prompt_max_chars: int = 2000
    max_request_body_bytes: int = 64 * 1024
    image_limits: ImageLimits = Field(default_factory=ImageLimits)
    video_limits: VideoLimits = Field(default_factory=VideoLimits)

    # --- abuse limits (per user, shared by every replica through PostgreSQL; 0 = off) ---
    rate_limit_generations: int = Field(
        default=30, ge=0, description="generations a user may create per rate_limit_window_s"
    )
    rate_limit_window_s: int = Field(default=60, ge=1)
    max_unfinished_jobs: int = Field(
        default=10, ge=0, description="a user's PENDING + PROCESSING generations at most"
    )
    unfinished_jobs_retry_after_s: int = Field(default=5, ge=1)
    # bulk jobs (POST /api/batches): their own cap, not counted in max_unfinished_jobs
    batch_max_items: int = Field(default=1000, ge=1, description="jobs in one batch at most")
    max_unfinished_batch_jobs: int = Field(
        default=5000, ge=0, description="a user's unfinished batch jobs at most (0 = off)"
    )
    batch_max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    idempotency_key_ttl_s: int = Field(
        default=24 * 3600, ge=1, description="how long an Idempotency-Key answers the same job"
    )

    # --- media ---
    media_signing_secret: SecretStr | None = None
    media_url_ttl_s: int = 3600
    public_base_url: str = "http://127.0.0.1:8000"

    # --- outbox relay ---
    relay_poll_interval_s: float = 1.0
    relay_batch_size: int = 100
    relay_publish_timeout_s: float = 5.0
    relay_max_backoff_s: float = 10.0

    # --- scheduler (a loop of every relay: the database is the queue of record) ---
    scheduler_slots_per_consumer: int = Field(
        default=20, ge=1, description="jobs in flight per generator consumer (its prefetch)"
    )
    scheduler_interactive_reserve: int = Field(
        default=4,
        ge=0,
        description="of a consumer's slots, how many batch jobs never take (kept for"
        " interactive jobs, which then start with the next pipeline call)",
    )
    scheduler_poll_interval_s: float = Field(default=1.0, gt=0)
    scheduler_capacity_refresh_s: float = Field(
        default=1.0, gt=0, description="how long a queue's consumer count is trusted"
    )
    scheduler_position_interval_s: float = Field(
        default=1.0, gt=0, description="queue positions are recomputed at most this often"
    )
    scheduler_policy: Literal["fair", "fifo"] = Field(
        default="fair", description="fair: tiers, then fair share; fifo: age only (a baseline)"
    )

    # --- metrics (the relay and the watchdog sample the outbox and the broker's queues) ---
    metrics_sample_interval_s: float = Field(default=15.0, gt=0)

    # --- projector ---
    projector_db_outage_s: float = 300.0
    # deliveries in flight, and at most this many applied in one transaction (a batch is what
    # arrived while the previous one was applied: a lone event is never held back)
    projector_prefetch: int = Field(default=200, ge=1)
    projector_max_batch: int = Field(default=100, ge=1)

    # --- watchdog (jobs that stopped making progress; see generations/stalled.py) ---
    watchdog_interval_s: float = Field(default=30.0, gt=0)
    # PROCESSING without any progress for this long: the worker is presumed lost. Keep it
    # well above the slowest model step (progress is reported per denoising step).
    watchdog_processing_lease_s: float = Field(default=900.0, gt=0)
    # PENDING this long after the request was accepted: its request is presumed lost. Keep
    # it above the longest expected queue wait at peak load.
    watchdog_pending_lease_s: float = Field(default=3600.0, gt=0)
    # Re-sends of generation.requested before the job is failed (too_many_attempts).
    watchdog_max_requeues: int = Field(default=2, ge=0)
    watchdog_batch_size: int = Field(default=100, ge=1)

    # --- live events (GET /api/events), cancel, delete; see events/log.py, workers/janitor.py ---
    events_retention_s: float = Field(default=24 * 3600, gt=0, description="SSE resume window")
    events_heartbeat_s: float = Field(default=15.0, gt=0, description="comment line interval")
    events_poll_interval_s: float = Field(default=5.0, gt=0, description="if NOTIFY is missed")
    events_batch_size: int = Field(default=200, ge=1)
    events_max_stream_s: float = Field(
        default=3600.0, gt=0, description="a stream ends after this; clients resume"
    )
    events_retry_ms: int = Field(default=3000, ge=0, description="EventSource reconnect delay")
    max_streams_per_user: int = Field(
        default=8, ge=0, description="open event streams per user and api process (0: no cap)"
    )
    stream_token_ttl_s: int = Field(default=120, ge=1, le=3600)
    stream_token_secret: SecretStr | None = Field(
        default=None, description="default: derived from the media signing secret"
    )
    janitor_interval_s: float = Field(default=60.0, gt=0, description="event log purge")
    deletion_poll_interval_s: float = Field(default=5.0, gt=0)
    deletion_retry_backoff_s: float = Field(default=1.0, gt=0)
    deletion_retry_backoff_max_s: float = Field(default=300.0, gt=0)
    deletion_max_attempts: int = Field(default=200, ge=1)
    deletion_tombstone_retention_s: float = Field(default=30 * 24 * 3600, gt=0)
    outbox_retention_s: float = Field(
        default=7 * 24 * 3600, gt=0, description="published outbox rows are kept this long"
    )
    processed_events_retention_s: float = Field(
        default=7 * 24 * 3600,
        gt=0,
        description="dedupe records; a redelivery older than this is still harmless "
        "(unique file rows, first terminal status wins), only no longer short-circuited",
    )

    # --- webhooks (SORAMI_GATEWAY_WEBHOOKS__...; see webhook_settings.py) ---
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)

    # --- lifetimes (issue 26): results and uploads expire; a request may ask for less ---
    retention_days: float | None = Field(
        default=None,
        gt=0,
        description="results and uploads are deleted this long after they are made (None: "
        "results are kept; uploads follow UPLOADS__TTL_S); a request's expires_after (seconds) "
        "may only shorten it",
    )
    # --- uploads (SORAMI_GATEWAY_UPLOADS__...; see upload_settings.py) ---
    uploads: UploadSettings = Field(default_factory=UploadSettings)

    # --- web app (see web_app.py) ---
    serve_web: bool = Field(default=True, description="serve the web app at /")
    web_dir: Path | None = Field(default=None, description="default: the packaged web app")

    # --- readiness ---
    readiness_broker_cache_s: float = 5.0

    # --- OpenAI-compatible API (/v1) ---
    openai_image_wait_s: float = Field(
        default=120.0, gt=0, description="how long POST /v1/images/generations waits for the job"
    )
    openai_poll_after_ms: int = Field(
        default=1000, ge=50, description="the openai-poll-after-ms hint on /v1/videos answers"
    )
    openai_retry_window_s: int = Field(
        default=1800, ge=1, description="how far back an SDK retry (no Idempotency-Key) looks"
    )
    openai_model_aliases: dict[str, str] = Field(
        default_factory=dict, description='e.g. {"dall-e-3": "sd-turbo", "sora-2": "wan-1.3b"}'
    )

    @model_validator(mode="after")
    def _batch_keeps_a_slot(self) -> Self:
        if self.scheduler_interactive_reserve >= self.scheduler_slots_per_consumer:
            raise ValueError(
                "scheduler_interactive_reserve must be below scheduler_slots_per_consumer"
                f" ({self.scheduler_slots_per_consumer}): batch jobs would never start"
            )
        return self

    @model_validator(mode="after")
    def _retention_bounds_uploads(self) -> Self:
        """An upload lives at most ``retention_days`` too (its TTL is capped)."""
        if self.retention_days is not None:
            most = max(1, round(self.retention_days * 86400))
            self.uploads.ttl_s = min(self.uploads.ttl_s, most)
        return self

    @model_validator(mode="after")
    def _refuse_development_secrets(self) -> Self:
        if self.environment != Environment.DEVELOPMENT:
            jwt = self.jwt_secret.get_secret_value() if self.jwt_secret else None
            if jwt == DEVELOPMENT_JWT_SECRET:
                raise ValueError("the development JWT secret is refused outside development")
            if jwt is None and not self.jwks_url:
                raise ValueError(
                    "outside development, set SORAMI_GATEWAY_JWKS_URL or "
                    "SORAMI_GATEWAY_JWT_SECRET (the built-in development secret is refused)"
                )
            media = (
                self.media_signing_secret.get_secret_value() if self.media_signing_secret else None
            )
            if media is None or media == DEVELOPMENT_MEDIA_SECRET:
                raise ValueError(
                    "outside development, set SORAMI_GATEWAY_MEDIA_SIGNING_SECRET "
                    "(the built-in development secret is refused)"
                )
        for kind in Kind:
            if not self.models_for(kind):
                raise ValueError(f"no {kind.value} model configured")
            for name in self.models_for(kind):
                spec = self.registry.get(name)
                if spec is None or spec.kind != kind:
                    raise ValueError(
                        f"{kind.value}_models lists {name!r}, which the model registry "
                        f"(built-ins, MODELS_FILE, MODELS) has no {kind.value} model of"
                    )
        return self

    @property
    def hs256_secret(self) -> str | None:
        """The HS256 secret in force (None: HS256 disabled)."""
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        if self.environment == Environment.DEVELOPMENT:
            return DEVELOPMENT_JWT_SECRET
        return None

    @property
    def media_secret(self) -> bytes:
        if self.media_signing_secret is not None:
            return self.media_signing_secret.get_secret_value().encode()
        return DEVELOPMENT_MEDIA_SECRET.encode()

    def models_for(self, kind: Kind) -> list[str]:
        return self.image_models if kind == Kind.IMAGE else self.video_models

    def limits_for(self, kind: Kind) -> KindLimits:
        return self.image_limits if kind == Kind.IMAGE else self.video_limits
