"""Development tokens: the one definition of the built-in HS256 secret, and minting.

The gateway accepts these tokens only while ``environment`` is development (it refuses to
start elsewhere with this secret); the ``sorami`` command line mints them for local use with
:func:`mint_dev_token`, which refuses outside development too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from .settings import Environment

# Used only when environment=development and no secret is configured; refused elsewhere.
DEVELOPMENT_JWT_SECRET = "sorami-development-secret-do-not-use-in-production"
DEVELOPMENT_TOKEN_TTL_S = 7 * 24 * 3600


class DevelopmentTokensRefused(PermissionError):
    """A development token was asked for outside development."""


def valid_user_id(user_id: str) -> bool:
    """What a token's ``sub`` may be: 1..255 printable characters (it is stored and logged;
    no NUL or control characters)."""
    return 0 < len(user_id) <= 255 and user_id.isprintable()


def mint_dev_token(
    user_id: str,
    ttl_s: int = DEVELOPMENT_TOKEN_TTL_S,
    *,
    environment: Environment | str,
    secret: str | None = None,
    issuer: str | None = None,
    audience: str | None = None,
) -> str:
    """An HS256 JWT for ``user_id`` valid ``ttl_s`` seconds, signed with ``secret`` (default:
    the built-in development secret). Raises :class:`DevelopmentTokensRefused` unless
    ``environment`` is development, ``ValueError`` for a bad user id or a lifetime that is
    not positive (a token born expired is of no use)."""
    if str(environment).lower() != Environment.DEVELOPMENT.value:
        raise DevelopmentTokensRefused("development tokens are refused outside development")
    if not valid_user_id(user_id):
        raise ValueError("user id must be 1..255 printable characters")
    if ttl_s <= 0:
        raise ValueError(f"the token lifetime must be a positive number of seconds, not {ttl_s}")
    now = datetime.now(UTC)
    claims: dict[str, Any] = {"sub": user_id, "iat": now, "exp": now + timedelta(seconds=ttl_s)}
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret or DEVELOPMENT_JWT_SECRET, algorithm="HS256")
