"""Stream tokens: single-purpose, short-lived, never interchangeable with a user JWT."""

from __future__ import annotations

import time

import jwt
import pytest
from sorami_gateway.events import stream_tokens
from sorami_gateway.infra.auth import AuthError
from sorami_gateway.settings import GatewaySettings


def _settings(**overrides) -> GatewaySettings:
    return GatewaySettings(
        environment="test",
        jwt_secret="unit-secret-" + "x" * 32,
        media_signing_secret="unit-media-" + "y" * 32,
        **overrides,
    )


def test_issued_token_opens_the_stream_for_its_user_only() -> None:
    settings = _settings()
    token, ttl = stream_tokens.issue(settings, "alice")
    assert ttl == settings.stream_token_ttl_s
    assert stream_tokens.verify(settings, token) == "alice"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == stream_tokens.AUDIENCE
    # whole seconds, rounded up: the token lives at least ttl, at most one second more
    assert ttl <= claims["exp"] - claims["iat"] <= ttl + 1
    assert claims["exp"] >= time.time() + ttl - 0.5  # never shorter than asked (was: floored)


def test_user_jwts_foreign_keys_and_expired_tokens_are_refused() -> None:
    settings = _settings()
    user_jwt = jwt.encode({"sub": "alice", "exp": 2**31}, "unit-secret-" + "x" * 32, "HS256")
    with pytest.raises(AuthError):
        stream_tokens.verify(settings, user_jwt)
    other = _settings(stream_token_secret="another-secret-" + "z" * 32)
    token, _ = stream_tokens.issue(other, "alice")
    with pytest.raises(AuthError):
        stream_tokens.verify(settings, token)
    expired = _settings(stream_token_ttl_s=1)
    token, _ = stream_tokens.issue(expired, "alice")
    payload = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(
        {**payload, "exp": payload["iat"] - 10}, stream_tokens._key(expired), "HS256"
    )
    with pytest.raises(AuthError, match="expired"):
        stream_tokens.verify(expired, forged)
    with pytest.raises(AuthError):
        stream_tokens.verify(settings, "not-a-token")
