"""Settings base: pydantic-settings with one env prefix per service (``SORAMI_GATEWAY_``...)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class ServiceSettings(BaseSettings):
    """Common to every service. Subclasses set ``env_prefix`` in their ``model_config``."""

    model_config = SettingsConfigDict(env_prefix="SORAMI_", extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    amqp_url: str = Field(
        default="amqp://guest:guest@127.0.0.1:5672/",
        description="one broker URL, or a cluster's nodes as a comma-separated list of URLs"
        " (tried in order; a lost connection moves on to the next node)",
    )
    log_format: str | None = Field(
        default=None, description="json or console; default json except in development"
    )
    log_level: str = "INFO"
    metrics_port: int | None = Field(
        default=None, description="serve Prometheus /metrics on this port (unset: no endpoint)"
    )
    metrics_host: str = Field(default="127.0.0.1", description="0.0.0.0 in a container")

    @property
    def effective_log_format(self) -> str:
        if self.log_format:
            return self.log_format
        return "console" if self.environment == Environment.DEVELOPMENT else "json"
