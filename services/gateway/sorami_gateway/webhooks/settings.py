"""Webhook settings: ``SORAMI_GATEWAY_WEBHOOKS__<FIELD>`` (one nested block of the gateway's
settings)."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, Field, model_validator
from sorami_shared.settings import Environment

LOOPBACK = ["127.0.0.0/8", "::1/128"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class WebhookSettings(BaseModel):
    # Addresses a webhook may reach although they are not global (loopback, private,
    # link-local...). None: loopback in development (so `make run` can call a local
    # receiver), nothing elsewhere. e.g. SORAMI_GATEWAY_WEBHOOKS__ALLOWED_NETWORKS='["10.1.0.0/16"]'
    allowed_networks: list[str] | None = None
    # plain http webhook URLs; None: in development only (https everywhere else)
    allow_http: bool | None = None
    retry_horizon_s: float = Field(
        default=24 * 3600, gt=0, description="retries stop this long after the event"
    )
    backoff_base_s: float = Field(default=5.0, gt=0, description="first retry delay (jittered)")
    backoff_max_s: float = Field(default=3600.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    timeout_s: float = Field(default=15.0, gt=0, description="one attempt, redirects included")
    lease_s: float = Field(
        default=60.0,
        gt=0,
        description="a claimed delivery is retried after this if its "
        "deliverer died mid-attempt; keep it above timeout_s",
    )
    max_response_bytes: int = Field(default=4096, ge=0, description="response body read cap")
    max_redirects: int = Field(default=3, ge=0, description="same-host redirects followed")
    url_max_length: int = Field(default=2048, ge=32)
    concurrency: int = Field(default=16, ge=1, description="attempts in flight per deliverer")
    poll_interval_s: float = Field(default=5.0, gt=0)
    secret_grace_s: float = Field(
        default=24 * 3600, ge=0, description="a rotated endpoint secret still signs this long"
    )
    retention_s: float = Field(
        default=30 * 24 * 3600, gt=0, description="finished deliveries are kept this long"
    )

    @model_validator(mode="after")
    def _lease_above_timeout(self) -> WebhookSettings:
        if self.lease_s <= self.timeout_s:
            raise ValueError("webhooks.lease_s must be above webhooks.timeout_s")
        for network in self.allowed_networks or []:
            ipaddress.ip_network(network, strict=False)
        return self

    def http_allowed(self, environment: Environment) -> bool:
        if self.allow_http is None:
            return environment == Environment.DEVELOPMENT
        return self.allow_http

    def networks(self, environment: Environment) -> list[Network]:
        """The allow-list in force."""
        names = self.allowed_networks
        if names is None:
            names = LOOPBACK if environment == Environment.DEVELOPMENT else []
        return [ipaddress.ip_network(n, strict=False) for n in names]
