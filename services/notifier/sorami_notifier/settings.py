"""The notifier's settings (env prefix ``SORAMI_NOTIFIER_``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict
from sorami_shared.settings import ServiceSettings


class NotifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SORAMI_NOTIFIER_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/sorami_notifier"
    # Handlers in flight per process (AMQP prefetch).
    prefetch: int = 200
    # Outcomes stored in one transaction (a batch is what arrived while the last one was
    # being handled; a lone outcome is never held back).
    max_batch: int = 100
    # On SIGTERM: how long to let handlers in flight finish before closing.
    shutdown_grace_s: float = 10.0
