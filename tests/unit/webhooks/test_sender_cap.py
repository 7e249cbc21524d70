"""The deliverer reads at most ``max_response_bytes`` of a response, however much is sent."""

from __future__ import annotations

import httpx
from sorami_gateway.webhooks.addresses import AddressPolicy
from sorami_gateway.webhooks.sender import Sender
from sorami_gateway.webhooks.settings import WebhookSettings


async def test_the_response_body_read_is_capped():
    sent = 0

    async def endless():
        nonlocal sent
        while True:
            sent += 1024
            yield b"x" * 1024

    sender = Sender(WebhookSettings(max_response_bytes=4096), AddressPolicy(), resolver=None)
    try:
        read = await sender._read_capped(httpx.Response(200, content=endless()))
    finally:
        await sender.aclose()
    assert len(read) == 4096
    assert sent <= 5 * 1024  # it stopped pulling, it did not drain the stream
