"""SSRF: a webhook URL that resolves (at delivery time, or after a redirect) to loopback, a
private network, link-local / the metadata address, or [::1] is refused outside the
allow-list, before any connection (a fake resolver answers; the suite's socket guard fails
the test on any connect off the machine); the refusal is logged without the secret or the
URL's path and query."""

from __future__ import annotations

import logging
import uuid

import structlog
from sorami_shared.logging import configure_logging
from starlette.responses import Response

from tests.integration.gateway import projection_events as ev
from tests.integration.gateway.conftest import SMALL_IMAGE, auth, eventually
from tests.support.webhooks import FakeResolver

from .conftest import FAST, complete, receiving, running_deliverer


async def _job(client, url: str) -> uuid.UUID:
    r = await client.post(
        "/api/images/generate", json={**SMALL_IMAGE, "webhook_url": url}, headers=auth()
    )
    assert r.status_code == 202, r.text
    return uuid.UUID(r.json()["job_id"])


async def _ended(client, job: uuid.UUID) -> dict:
    async def check():
        items = (await client.get(f"/api/images/{job}/webhooks", headers=auth())).json()["items"]
        return items[0] if items and items[0]["status"] != "pending" else None

    return await eventually(check, timeout=20)


def _logging():
    saved = logging.getLogger().handlers[:], logging.getLogger().level
    configure_logging("gateway-webhooks", fmt="json", level="DEBUG")
    return saved


def _restore(saved) -> None:
    structlog.reset_defaults()
    logging.getLogger().handlers[:], _ = saved
    logging.getLogger().setLevel(saved[1])


async def test_private_metadata_and_loopback_addresses_are_refused(
    make_settings, client, sessions, receiver, capfd
):
    settings = make_settings(webhooks={**FAST, "allowed_networks": []})  # nothing admitted
    port = receiver.url.rsplit(":", 1)[1]  # a live receiver: it must get nothing
    token = f"tok-{uuid.uuid4().hex}"
    resolver = FakeResolver({"internal.test": ["10.1.2.3"], "metadata.test": ["169.254.169.254"]})
    urls = [
        f"http://internal.test/hook?token={token}",
        f"http://metadata.test/latest/meta-data?token={token}",
        f"http://127.0.0.1:{port}/hook?token={token}",
        f"http://[::1]:{port}/hook?token={token}",
    ]
    secret = (await client.get("/api/webhooks/secret", headers=auth())).json()["secret"]
    saved = _logging()
    try:
        async with running_deliverer(settings, resolver=resolver):
            jobs = [await _job(client, url) for url in urls]
            for job in jobs:
                await complete(settings, sessions, ev.failed(job))
            ended = [await _ended(client, job) for job in jobs]
        logs = "".join(capfd.readouterr())
    finally:
        _restore(saved)
    expected = [
        "10.1.2.3, a private address",
        "169.254.169.254, a link-local address",
        "127.0.0.1, a loopback address",
        "::1, a loopback address",
    ]
    for delivery, reason in zip(ended, expected, strict=True):
        assert delivery["status"] == "failed" and delivery["attempts"] == 1  # not retried
        assert delivery["error"].startswith("refused:") and reason in delivery["error"]
        assert delivery["history"][0]["status_code"] is None
    assert receiver.received == []
    assert resolver.asked == ["internal.test", "metadata.test"]  # literals need no DNS
    assert "webhook delivery ended" in logs and "a private address" in logs
    assert secret not in logs and token not in logs and "/latest/meta-data" not in logs


async def test_redirects_to_other_hosts_or_forbidden_addresses_are_not_followed(
    make_settings, client, sessions
):
    settings = make_settings(webhooks={**FAST, "allowed_networks": ["127.0.0.0/8"]})
    async with receiving() as receiver:
        port = receiver.url.rsplit(":", 1)[1]
        # the receiver redirects: first elsewhere (metadata), then to its own host, whose
        # name now resolves to a private address (DNS rebinding after the first check)
        receiver.script = [
            lambda _: Response(status_code=307, headers={"location": "http://169.254.169.254/"}),
            lambda _: Response(status_code=308, headers={"location": "/moved"}),
        ]
        resolver = FakeResolver({"hooks.test": ["127.0.0.1", "10.0.0.7"]})
        async with running_deliverer(settings, resolver=resolver):
            first = await _job(client, f"http://127.0.0.1:{port}/a")
            await complete(settings, sessions, ev.failed(first))
            elsewhere = await _ended(client, first)
            second = await _job(client, f"http://hooks.test:{port}/b")
            await complete(settings, sessions, ev.failed(second))
            rebound = await _ended(client, second)
    assert elsewhere["status"] == "failed" and elsewhere["response_code"] == 307
    assert elsewhere["error"] == "redirect to another host not followed"
    assert rebound["status"] == "failed" and rebound["response_code"] is None
    assert "hooks.test resolves to 10.0.0.7, a private address" in rebound["error"]
    # the receiver saw each first hop only; nothing reached the redirect targets
    assert [r.path for r in receiver.received] == ["/a", "/b"]
    assert receiver.received[1].headers["host"] == f"hooks.test:{port}"
