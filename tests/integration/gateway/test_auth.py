"""Bearer JWT: HS256 with the shared secret, RS256 from a local JWKS server; every bad token
class answers 401 with ``WWW-Authenticate: Bearer``."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sorami_gateway.infra.auth import DevelopmentTokensRefused, issue_development_token
from sorami_gateway.settings import DEVELOPMENT_JWT_SECRET, GatewaySettings

from .conftest import SMALL_IMAGE, TEST_JWT_SECRET, make_token, running_client

STATUS = "/api/images/00000000-0000-0000-0000-000000000000/status"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def _exp(seconds: float = 3600) -> int:
    return int((datetime.now(UTC) + timedelta(seconds=seconds)).timestamp())


BAD_TOKENS = {
    "malformed": "not-a-jwt",
    "three garbage parts": "a.b.c",
    "expired": make_token("alice", expires_in=-3600),
    "wrong signature": make_token("alice", secret="another-secret-" + "x" * 64),
    "alg none": _unsigned({"sub": "alice", "exp": _exp()}),
    "no sub": make_token(None),
    "empty sub": make_token(""),
    "NUL in sub": make_token("al\x00ice"),
    "sub not a string": jwt.encode({"sub": 42, "exp": _exp()}, TEST_JWT_SECRET),
    "no exp": jwt.encode({"sub": "alice"}, TEST_JWT_SECRET),
    "HS512": jwt.encode({"sub": "alice", "exp": _exp()}, TEST_JWT_SECRET * 2, algorithm="HS512"),
}


@pytest.mark.parametrize("token", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
async def test_bad_tokens_are_401(client, token):
    for method, path in (("GET", STATUS), ("POST", "/api/images/generate")):
        response = await client.request(
            method, path, json=SMALL_IMAGE, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401, (method, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        assert token not in response.text or not token


# issue 11: a 401 a client can act on (refresh, re-mint, send one), nothing more
DETAILS = {"expired": "token expired", "wrong signature": "invalid token signature"}


@pytest.mark.parametrize("name", BAD_TOKENS)
async def test_a_401_says_expired_bad_signature_or_generic(client, name):
    headers = {"Authorization": f"Bearer {BAD_TOKENS[name]}"}
    response = await client.get(STATUS, headers=headers)
    assert response.json() == {"detail": DETAILS.get(name, "invalid token")}
    v1 = await client.get("/v1/videos", headers=headers)
    assert v1.status_code == 401
    assert v1.json()["error"]["message"].endswith(f"{DETAILS.get(name, 'invalid token')}.")


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer ", "Basic YWxpY2U6cHc=", "Token abc"]
)
async def test_missing_or_non_bearer_authorization_is_401(client, header):
    headers = {} if header is None else {"Authorization": header}
    response = await client.get(STATUS, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "missing bearer token"}


async def test_valid_hs256_token_is_accepted(client):
    response = await client.get(STATUS, headers={"Authorization": f"Bearer {make_token('alice')}"})
    assert response.status_code == 404  # authenticated; the generation just does not exist


# --- RS256 via JWKS -------------------------------------------------------------------------


class _Jwks:
    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0


@contextlib.contextmanager
def jwks_server(jwks: _Jwks) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            jwks.fetches += 1
            body = json.dumps({"keys": jwks.keys}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


def _rs256(key: rsa.RSAPrivateKey, kid: str, **claims: Any) -> str:
    payload = {"sub": "carol", "exp": _exp(), **claims}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    return _rsa_key(), _rsa_key()


async def test_rs256_via_jwks(make_settings, rsa_keys):
    key, other = rsa_keys
    jwks = _Jwks()
    jwks.keys = [_jwk(key, "k1")]
    with jwks_server(jwks) as url:
        settings = make_settings(
            jwks_url=url,
            jwt_issuer="https://issuer.test/",
            jwt_audience="sorami",
            jwks_min_refresh_interval_s=3600,
        )
        async with running_client(settings) as client:

            async def status_with(token: str) -> int:
                r = await client.get(STATUS, headers={"Authorization": f"Bearer {token}"})
                return r.status_code

            good = _rs256(key, "k1", iss="https://issuer.test/", aud="sorami")
            history = await client.get(
                "/api/images/user", headers={"Authorization": f"Bearer {good}"}
            )
            assert history.status_code == 200 and history.json()["items"] == []
            assert await status_with(good) == 404  # authenticated; no such generation
            assert jwks.fetches == 1  # cached

            # wrong issuer / audience / signer
            assert await status_with(_rs256(key, "k1", iss="https://evil/", aud="sorami")) == 401
            assert await status_with(_rs256(key, "k1", iss="https://issuer.test/", aud="x")) == 401
            forged = _rs256(other, "k1", iss="https://issuer.test/", aud="sorami")
            assert await status_with(forged) == 401

            # algorithm confusion: HS256 signed with the RSA public key (PEM)
            public_pem = key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            confused = _hs256_with_raw_key(
                public_pem,
                {"sub": "carol", "exp": _exp(), "iss": "https://issuer.test/", "aud": "sorami"},
                kid="k1",
            )
            assert await status_with(confused) == 401

            # an unknown kid triggers at most one refresh, however many tokens carry it
            unknown = _rs256(key, "nope", iss="https://issuer.test/", aud="sorami")
            for _ in range(5):
                assert await status_with(unknown) == 401
            assert jwks.fetches == 1  # min refresh interval not elapsed: no refresh storm


async def test_key_rotation_is_picked_up_by_one_refresh(make_settings, rsa_keys):
    key, rotated = rsa_keys
    jwks = _Jwks()
    jwks.keys = [_jwk(key, "k1")]
    with jwks_server(jwks) as url:
        settings = make_settings(jwks_url=url, jwks_min_refresh_interval_s=0)
        async with running_client(settings) as client:
            first = await client.get(
                STATUS, headers={"Authorization": f"Bearer {_rs256(key, 'k1')}"}
            )
            assert first.status_code == 404
            jwks.keys = [_jwk(key, "k1"), _jwk(rotated, "k2")]
            second = await client.get(
                STATUS, headers={"Authorization": f"Bearer {_rs256(rotated, 'k2')}"}
            )
            assert second.status_code == 404
            assert jwks.fetches == 2


def _hs256_with_raw_key(secret: bytes, claims: dict[str, Any], *, kid: str) -> str:
    # PyJWT refuses to HMAC with a PEM key, which is exactly the attack: sign by hand.
    import hashlib
    import hmac

    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    payload = _b64(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


async def test_hs256_with_public_key_refused_even_when_hs256_enabled(make_settings, rsa_keys):
    """With both HS256 (its own secret) and RS256 on, an HS256 token MACed with the public key
    still fails: HS256 only ever verifies against the configured secret."""
    key, _ = rsa_keys
    jwks = _Jwks()
    jwks.keys = [_jwk(key, "k1")]
    with jwks_server(jwks) as url:
        async with running_client(make_settings(jwks_url=url)) as client:
            pem = key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            token = _hs256_with_raw_key(pem, {"sub": "carol", "exp": _exp()}, kid="k1")
            response = await client.get(STATUS, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401


async def test_jwks_unreachable_is_503_not_500(make_settings, rsa_keys):
    key, _ = rsa_keys
    settings = make_settings(jwks_url="http://127.0.0.1:1/jwks.json")
    async with running_client(settings) as client:
        response = await client.get(
            STATUS, headers={"Authorization": f"Bearer {_rs256(key, 'k1')}"}
        )
        assert response.status_code == 503


# --- development secret and tokens ----------------------------------------------------------


def test_development_secret_refused_outside_development(database_url):
    for environment in ("production", "test"):
        with pytest.raises(ValueError, match="development"):
            GatewaySettings(
                environment=environment,
                database_url=database_url,
                jwt_secret=DEVELOPMENT_JWT_SECRET,
                media_signing_secret="m" * 32,
            )
        with pytest.raises(ValueError, match="JWKS_URL or"):
            GatewaySettings(environment=environment, media_signing_secret="m" * 32)


def test_development_tokens(database_url):
    dev = GatewaySettings(environment="development")
    token = issue_development_token("alice", dev)
    claims = jwt.decode(token, DEVELOPMENT_JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "alice" and claims["exp"] > claims["iat"]

    prod = GatewaySettings(
        environment="production", jwks_url="https://idp/jwks", media_signing_secret="m" * 32
    )
    with pytest.raises(DevelopmentTokensRefused):
        issue_development_token("alice", prod)


async def test_development_token_authenticates_in_development(make_settings):
    settings = make_settings(environment="development", jwt_secret=None)
    token = issue_development_token("dave", settings)
    async with running_client(settings) as client:
        response = await client.post(
            "/api/images/generate", json=SMALL_IMAGE, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 202
