"""Authentication as identity providers issue it, beyond tests/integration/gateway/test_auth.py:
clock-skew allowance, issuer/audience only when configured, no JWKS refresh storm under
concurrent unknown kids, a rotated-out key stops working, RS256-only refuses HS256/none."""

from __future__ import annotations

import asyncio

from tests.integration.gateway.conftest import eventually, make_token, running_client
from tests.integration.gateway.test_auth import (
    STATUS,
    _exp,
    _jwk,
    _Jwks,
    _rs256,
    _unsigned,
    jwks_server,
    rsa_keys,  # noqa: F401 - fixture
)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_clock_skew_allowance(make_settings, rsa_keys):  # noqa: F811
    key, _ = rsa_keys
    jwks = _Jwks()
    jwks.keys = [_jwk(key, "k1")]
    with jwks_server(jwks) as url:
        async with running_client(make_settings(jwks_url=url, jwt_leeway_s=30)) as client:

            async def code(**claims):
                token = _rs256(key, "k1", **claims)
                return (await client.get(STATUS, headers=_bearer(token))).status_code

            assert await code(exp=_exp(-10)) == 404  # expired 10 s ago: within the leeway
            assert await code(exp=_exp(-120)) == 401
            assert await code(nbf=_exp(10)) == 404  # the issuer's clock is 10 s ahead
            assert await code(nbf=_exp(300)) == 401
            # HS256 gets the same allowance
            hs_recent = make_token("alice", expires_in=-10)
            hs_old = make_token("alice", expires_in=-120)
            assert (await client.get(STATUS, headers=_bearer(hs_recent))).status_code == 404
            assert (await client.get(STATUS, headers=_bearer(hs_old))).status_code == 401


async def test_issuer_and_audience_only_checked_when_configured(make_settings, rsa_keys):  # noqa: F811
    key, _ = rsa_keys
    jwks = _Jwks()
    jwks.keys = [_jwk(key, "k1")]
    with jwks_server(jwks) as url:
        async with running_client(make_settings(jwks_url=url)) as client:
            token = _rs256(key, "k1", iss="https://anyone/", aud="anything")
            assert (await client.get(STATUS, headers=_bearer(token))).status_code == 404
        configured = make_settings(jwks_url=url, jwt_issuer="https://idp/", jwt_audience="sorami")
        async with running_client(configured) as client:
            for claims, expected in (
                ({"iss": "https://idp/", "aud": "sorami"}, 404),
                ({"iss": "https://idp/", "aud": ["other", "sorami"]}, 404),
                ({"aud": "sorami"}, 401),  # missing issuer
                ({"iss": "https://idp/"}, 401),  # missing audience
                ({"iss": "https://idp/", "aud": "other"}, 401),
            ):
                token = _rs256(key, "k1", **claims)
                response = await client.get(STATUS, headers=_bearer(token))
                assert response.status_code == expected, claims


async def test_concurrent_unknown_kids_cause_one_refresh(make_settings, rsa_keys):  # noqa: F811
    key, _ = rsa_keys
    jwks = _Jwks()
    jwks.keys = [_jwk(key, "k1")]
    with jwks_server(jwks) as url:
        settings = make_settings(jwks_url=url, jwks_min_refresh_interval_s=3600)
        async with running_client(settings) as client:
            tokens = [_rs256(key, f"forged-{i}") for i in range(40)]
            responses = await asyncio.gather(
                *(client.get(STATUS, headers=_bearer(t)) for t in tokens)
            )
            assert {r.status_code for r in responses} == {401}
            assert jwks.fetches == 1  # the first load only: no storm
            good = await client.get(STATUS, headers=_bearer(_rs256(key, "k1")))
            assert good.status_code == 404 and jwks.fetches == 1


async def test_rotated_out_key_stops_working_after_the_cache_ttl(make_settings, rsa_keys):  # noqa: F811
    old, new = rsa_keys
    jwks = _Jwks()
    jwks.keys = [_jwk(old, "old")]
    with jwks_server(jwks) as url:
        settings = make_settings(jwks_url=url, jwks_cache_s=1, jwks_min_refresh_interval_s=0)
        async with running_client(settings) as client:
            assert (
                await client.get(STATUS, headers=_bearer(_rs256(old, "old")))
            ).status_code == 404
            jwks.keys = [_jwk(new, "new")]  # the provider rotates and drops the old key
            assert (
                await client.get(STATUS, headers=_bearer(_rs256(new, "new")))
            ).status_code == 404

            async def old_refused():
                r = await client.get(STATUS, headers=_bearer(_rs256(old, "old")))
                return r.status_code == 401

            await eventually(old_refused, timeout=5, interval=0.2)


async def test_rs256_only_refuses_hs256_and_none(make_settings, rsa_keys):  # noqa: F811
    key, _ = rsa_keys
    jwks = _Jwks()
    jwks.keys = [_jwk(key, "k1")]
    with jwks_server(jwks) as url:
        async with running_client(make_settings(jwks_url=url, jwt_secret=None)) as client:
            for token in (
                make_token("alice"),  # HS256: not configured, so refused whatever the secret
                _unsigned({"sub": "alice", "exp": _exp()}),
                _rs256(key, "k1").rsplit(".", 1)[0] + ".",  # RS256 header, signature stripped
            ):
                response = await client.get(STATUS, headers=_bearer(token))
                assert response.status_code == 401
                assert response.headers["www-authenticate"] == "Bearer"
