"""What the webhook routes answer and accept."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from .urls import WebhookEvent


class AttemptPublic(BaseModel):
    attempt: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None


class DeliveryPublic(BaseModel):
    id: uuid.UUID
    webhook_id: str
    event: WebhookEvent
    url: str
    endpoint_id: uuid.UUID | None
    status: str  # pending | succeeded | failed | disabled
    attempts: int
    response_code: int | None
    duration_ms: int | None
    error: str | None
    next_retry_at: datetime | None
    created_at: datetime
    finished_at: datetime | None
    history: list[AttemptPublic]


class DeliveryList(BaseModel):
    job_id: uuid.UUID
    items: list[DeliveryPublic]


class Redeliver(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delivery_ids: list[uuid.UUID] | None = None  # default: every failed or disabled delivery


class Redelivered(BaseModel):
    job_id: uuid.UUID
    redelivered: list[uuid.UUID]


class SigningSecret(BaseModel):
    secret: str


class EndpointPublic(BaseModel):
    id: uuid.UUID
    url: str
    events: list[WebhookEvent]
    created_at: datetime
    disabled_at: datetime | None
    previous_secret_until: datetime | None


class EndpointCreated(EndpointPublic):
    secret: str  # shown once


class EndpointRotated(BaseModel):
    id: uuid.UUID
    secret: str  # shown once
    previous_secret_until: datetime


class EndpointList(BaseModel):
    items: list[EndpointPublic]
