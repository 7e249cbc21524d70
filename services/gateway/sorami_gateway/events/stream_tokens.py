"""Short-lived, single-purpose tokens for ``GET /api/events?stream_token=...``.

Browsers' ``EventSource`` cannot send an ``Authorization`` header, and a user's JWT must never
sit in a URL (proxy logs, browser history). ``POST /api/events/token`` (Bearer auth) answers a
token that:

- is signed with its own key (HMAC of the configured secret with a purpose label), so the
  bearer authenticator never accepts it for any other endpoint, and a user JWT is never
  accepted as a stream token;
- names its purpose (``aud``) and expires after ``stream_token_ttl_s`` (checked when the stream
  opens; an open stream is not cut when it expires).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import uuid
from datetime import UTC, datetime

import jwt

from ..infra.auth import AuthError, valid_user_id
from ..settings import GatewaySettings

AUDIENCE = "sorami:event-stream"
_LABEL = b"sorami-gateway/stream-token/v1"


def _key(settings: GatewaySettings) -> bytes:
    secret = (
        settings.stream_token_secret.get_secret_value().encode()
        if settings.stream_token_secret is not None
        else settings.media_secret
    )
    return hmac.new(secret, _LABEL, hashlib.sha256).digest()


def issue(settings: GatewaySettings, user_id: str) -> tuple[str, int]:
    """(token, seconds it is valid)."""
    ttl = settings.stream_token_ttl_s
    now = datetime.now(UTC)
    claims = {
        "sub": user_id,
        "aud": AUDIENCE,
        "iat": now,
        # NumericDate is whole seconds and PyJWT truncates: round up, so that a token lives at
        # least ttl seconds (at most one more), never less (a 1 s token could die in 0.1 s)
        "exp": math.ceil(now.timestamp()) + ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, _key(settings), algorithm="HS256"), ttl


def verify(settings: GatewaySettings, token: str) -> str:
    """The user id of a valid stream token; raises :class:`AuthError` otherwise."""
    try:
        claims = jwt.decode(
            token,
            _key(settings),
            algorithms=["HS256"],
            audience=AUDIENCE,
            options={"require": ["exp", "sub", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError(
            "stream token expired", "stream token expired; ask POST /api/events/token for a new one"
        ) from exc
    except jwt.PyJWTError as exc:
        raise AuthError("invalid stream token") from exc
    sub = claims.get("sub")
    if not isinstance(sub, str) or not valid_user_id(sub):
        raise AuthError("invalid stream token")
    return sub
