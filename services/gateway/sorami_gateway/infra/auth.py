"""Bearer JWT authentication; the user id is the ``sub`` claim.

- HS256 with a shared secret (development; the built-in secret only in development).
- RS256 with keys from a JWKS URL (what Clerk, Auth0 and OIDC providers issue), cached by
  ``kid``; an unknown ``kid`` triggers at most one refresh per ``jwks_min_refresh_interval_s``
  (concurrent requests share it), so a flood of forged kids cannot become a refresh storm.

The algorithm is chosen by the server from what is configured, never trusted from the token:
``alg: none`` and an HS256 token signed with the RSA public key are refused. A token that
passed is remembered for up to a minute (never past its ``exp``): :mod:`.token_cache`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import jwt
from sorami_shared.dev_tokens import (  # noqa: F401 - DevelopmentTokensRefused re-exported
    DevelopmentTokensRefused,
    mint_dev_token,
    valid_user_id,
)
from sorami_shared.logging import get_logger

from ..settings import GatewaySettings
from .token_cache import VerifiedTokens

log = get_logger(__name__)


# What a 401 tells the client: enough to act on (get a token, refresh it, fix the secret),
# nothing that helps forge one. The precise reason is the exception's message, for logs.
MISSING_TOKEN = "missing bearer token"
TOKEN_EXPIRED = "token expired"
BAD_SIGNATURE = "invalid token signature"
INVALID_TOKEN = "invalid token"


class AuthError(Exception):
    """The request is not authenticated (401); ``detail`` is what the client is told."""

    def __init__(self, reason: str, detail: str = INVALID_TOKEN) -> None:
        super().__init__(reason)
        self.detail = detail


class AuthUnavailable(Exception):
    """The identity provider's keys cannot be fetched (503)."""


class JwksCache:
    def __init__(self, url: str, *, ttl_s: float, min_refresh_interval_s: float) -> None:
        self.url = url
        self.ttl_s = ttl_s
        self.min_refresh_interval_s = min_refresh_interval_s
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self._client = httpx.AsyncClient(timeout=5.0)

    async def close(self) -> None:
        await self._client.aclose()

    def _fresh(self) -> bool:
        return self._fetched_at is not None and time.monotonic() - self._fetched_at < self.ttl_s

    def _may_refresh(self) -> bool:
        return (
            self._fetched_at is None
            or time.monotonic() - self._fetched_at >= self.min_refresh_interval_s
        )

    async def key(self, kid: str | None) -> Any:
        if self._fresh() and kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            # Another request may have refreshed while we waited for the lock.
            if kid in self._keys and self._fresh():
                return self._keys[kid]
            if self._may_refresh():
                await self._refresh()
            if kid in self._keys:
                return self._keys[kid]
        raise AuthError("unknown signing key")

    async def _refresh(self) -> None:
        try:
            response = await self._client.get(self.url)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            if self._keys:  # keep serving the keys we know
                log.warning("JWKS refresh failed, keeping cached keys", error=str(exc))
                self._fetched_at = time.monotonic()
                return
            raise AuthUnavailable(f"cannot fetch JWKS: {exc}") from exc
        keys: dict[str, Any] = {}
        for entry in document.get("keys", []) if isinstance(document, dict) else []:
            if entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
                continue
            try:
                keys[entry.get("kid")] = jwt.PyJWK(entry, algorithm="RS256").key
            except jwt.PyJWTError as exc:
                log.warning("ignoring unusable JWKS key", kid=entry.get("kid"), error=str(exc))
        self._keys = keys
        self._fetched_at = time.monotonic()
        log.info("JWKS refreshed", keys=len(keys))


class Authenticator:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.hs256_secret = settings.hs256_secret
        self.verified = VerifiedTokens()
        self.jwks = (
            JwksCache(
                settings.jwks_url,
                ttl_s=settings.jwks_cache_s,
                min_refresh_interval_s=settings.jwks_min_refresh_interval_s,
            )
            if settings.jwks_url
            else None
        )

    async def close(self) -> None:
        if self.jwks is not None:
            await self.jwks.close()

    async def user_id(self, token: str) -> str:
        known = self.verified.get(token)
        if known is not None:
            return known
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError("malformed token") from exc
        alg = header.get("alg")
        if alg == "HS256" and self.hs256_secret is not None:
            key: Any = self.hs256_secret
        elif alg == "RS256" and self.jwks is not None:
            kid = header.get("kid")
            if kid is not None and not isinstance(kid, str):
                raise AuthError("malformed token")
            key = await self.jwks.key(kid)
        else:
            raise AuthError("unsupported token algorithm")
        options: dict[str, Any] = {"require": ["exp", "sub"]}
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                issuer=self.settings.jwt_issuer,
                audience=self.settings.jwt_audience,
                leeway=self.settings.jwt_leeway_s,
                options={**options, "verify_aud": self.settings.jwt_audience is not None},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token expired", TOKEN_EXPIRED) from exc
        except jwt.InvalidSignatureError as exc:
            raise AuthError("invalid token signature", BAD_SIGNATURE) from exc
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {type(exc).__name__}") from exc
        sub = claims.get("sub")
        if not isinstance(sub, str) or not valid_user_id(sub):
            raise AuthError("invalid subject")
        self.verified.put(token, sub, claims["exp"])
        return sub


def issue_development_token(
    user_id: str, settings: GatewaySettings, *, ttl_s: int | None = None
) -> str:
    """A development JWT for ``user_id`` that this gateway accepts (its HS256 secret, issuer
    and audience); refused outside development."""
    return mint_dev_token(
        user_id,
        settings.development_token_ttl_s if ttl_s is None else ttl_s,
        environment=settings.environment,
        secret=settings.hs256_secret,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
