"""The SSRF guard at the resolver seam: a fake resolver answers, no socket is ever opened."""

from __future__ import annotations

import ipaddress

import pytest
from sorami_gateway.webhooks.addresses import AddressPolicy, Refused, checked_address
from sorami_gateway.webhooks.settings import WebhookSettings
from sorami_shared.settings import Environment

from tests.support.webhooks import FakeResolver

STRICT = AddressPolicy([])
LOOPBACK = AddressPolicy([ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")])
RESOLVER = FakeResolver(
    {
        "private.example": ["10.20.30.40"],
        "metadata.example": ["169.254.169.254"],
        "local.example": ["127.0.0.1"],
        "v6local.example": ["::1"],
        "mapped.example": ["::ffff:10.0.0.1"],
        "mixed.example": ["93.184.216.34,192.168.1.10"],  # one answer, two addresses
        "cgnat.example": ["100.64.0.1"],
        "public.example": ["93.184.216.34,2606:2800:220:1::1"],
    }
)


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("private.example", "10.20.30.40, a private address"),
        ("metadata.example", "169.254.169.254, a link-local address"),
        ("local.example", "127.0.0.1, a loopback address"),
        ("v6local.example", "::1, a loopback address"),
        ("::1", "::1, a loopback address"),  # an IP literal: no resolution at all
        ("[::1]", "::1, a loopback address"),
        ("10.0.0.8", "10.0.0.8, a private address"),
        ("169.254.169.254", "link-local"),
        ("mapped.example", "::ffff:10.0.0.1, a private address"),
        ("mixed.example", "192.168.1.10, a private address"),  # ANY bad answer refuses
        ("cgnat.example", "non-global"),
        ("nowhere.example", "does not resolve"),
    ],
)
async def test_refused_outside_the_allow_list(host, reason):
    with pytest.raises(Refused) as refused:
        await checked_address(RESOLVER, STRICT, host, 443)
    assert reason in str(refused.value)


async def test_the_allow_list_admits_loopback_only():
    assert await checked_address(RESOLVER, LOOPBACK, "local.example", 80) == "127.0.0.1"
    assert await checked_address(RESOLVER, LOOPBACK, "[::1]", 80) == "::1"
    for host in ("private.example", "metadata.example"):
        with pytest.raises(Refused):
            await checked_address(RESOLVER, LOOPBACK, host, 80)


async def test_a_public_host_is_reached_at_the_address_that_was_checked():
    assert await checked_address(RESOLVER, STRICT, "public.example", 443) == "93.184.216.34"


def test_the_default_allow_list_is_loopback_in_development_only():
    settings = WebhookSettings()
    assert [str(n) for n in settings.networks(Environment.DEVELOPMENT)] == [
        "127.0.0.0/8",
        "::1/128",
    ]
    assert settings.networks(Environment.PRODUCTION) == []
    assert settings.networks(Environment.TEST) == []
    explicit = WebhookSettings(allowed_networks=["10.1.0.0/16"])
    assert [str(n) for n in explicit.networks(Environment.DEVELOPMENT)] == ["10.1.0.0/16"]
    with pytest.raises(ValueError, match="lease_s"):
        WebhookSettings(timeout_s=30, lease_s=20)
