"""Signing secrets and Standard Webhooks signatures (the ``standardwebhooks`` package).

A secret is ``whsec_`` + base64 of 32 random bytes, the format that library (and every
Standard Webhooks verifier) takes. Secrets are never logged and are shown only to their owner:
the default secret on ``GET /api/webhooks/secret``, an endpoint's once at creation and once at
rotation. During a rotation's grace period a message carries two signatures
(``webhook-signature: v1,<new> v1,<old>``), so a receiver still holding the old secret
verifies it, as the spec intends.
"""

from __future__ import annotations

import base64
import json
import secrets as random
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import Webhook

from .models import WebhookSecret


def new_secret() -> str:
    return "whsec_" + base64.b64encode(random.token_bytes(32)).decode()


async def default_secret(session: AsyncSession, user_id: str) -> str:
    """The user's default signing secret, created on first use (caller's transaction)."""
    await session.execute(
        insert(WebhookSecret)
        .values(user_id=user_id, secret=new_secret())
        .on_conflict_do_nothing(index_elements=["user_id"])
    )
    return (
        await session.execute(
            sa.select(WebhookSecret.secret).where(WebhookSecret.user_id == user_id)
        )
    ).scalar_one()


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def signed_headers(
    secrets: Sequence[str], message_id: str, at: datetime, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers, one signature per secret."""
    text = body.decode()
    signatures = [Webhook(s).sign(message_id, at, text) for s in secrets]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
