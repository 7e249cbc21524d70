"""Secrets never reach a log line or an error body: bearer tokens (good and bad), the JWT and
media secrets, media signatures and presigned S3 URLs, S3 credentials, the database password,
webhook signing secrets (default, endpoint, rotated) and the token in a webhook URL.

The gateway api (local and S3 storage, and one whose database is down) and the outbox relay
(publishing to a real RabbitMQ) run in this process with the services' own logging set-up at
DEBUG, JSON; everything written to stdout/stderr is captured and searched."""

from __future__ import annotations

import logging
import uuid
from urllib.parse import parse_qs, urlparse

import structlog
from sorami_gateway.workers.projector import Projector
from sorami_shared.events import Kind
from sorami_shared.logging import configure_logging, get_logger
from sorami_shared.messaging import Delivery
from sqlalchemy.engine import make_url

from tests.integration.gateway import projection_events as ev
from tests.integration.gateway.conftest import (
    SMALL_IMAGE,
    TEST_JWT_SECRET,
    TEST_MEDIA_SECRET,
    eventually,
    make_token,
    observe,
    running_client,
    running_relay,
)
from tests.support.webhooks import receiving, running_deliverer

FIRST = Delivery(attempt=1, max_attempts=6, redelivered=False)
DB_PASSWORD = "db-Pa55word-" + uuid.uuid4().hex
S3_ACCESS_KEY = "AKIA" + uuid.uuid4().hex[:16].upper()
S3_SECRET_KEY = "s3-secret-" + uuid.uuid4().hex


async def test_no_secret_in_logs_or_error_bodies(make_settings, database_url, amqp_url, capfd):
    saved = logging.getLogger().handlers[:], logging.getLogger().level
    configure_logging("gateway-api", fmt="json", level="DEBUG")
    try:
        secrets, bodies = await _exercise(make_settings, database_url, amqp_url)
        logs = "".join(capfd.readouterr())
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers[:], _ = saved
        logging.getLogger().setLevel(saved[1])

    assert '"event": "request"' in logs and "published" in logs  # we did capture the services
    found = {name: value for name, value in secrets.items() if value in logs}
    assert not found, f"secrets in the logs: {sorted(found)}"
    for where, body in bodies:
        leaked = [name for name, value in secrets.items() if value in body]
        assert not leaked, f"{where} answered a secret ({leaked}): {body[:300]}"


async def _exercise(make_settings, database_url, amqp_url):
    # the database password travels in the URL (trust authentication ignores it)
    with_password = make_url(database_url).set(password=DB_PASSWORD)
    db_url = with_password.render_as_string(hide_password=False)
    good = make_token("alice")
    forged = make_token("alice", secret="not-the-secret-" + "y" * 40)
    expired = make_token("alice", expires_in=-3600)
    secrets: dict[str, str] = {
        "jwt secret": TEST_JWT_SECRET,
        "media secret": TEST_MEDIA_SECRET,
        "database password": DB_PASSWORD,
        "s3 access key": S3_ACCESS_KEY,
        "s3 secret key": S3_SECRET_KEY,
        "good token": good,
        "forged token": forged,
        "expired token": expired,
        "good token signature": good.rsplit(".", 1)[1],
    }
    bodies: list[tuple[str, str]] = []
    log = get_logger("secrets-test")

    local = make_settings(database_url=db_url, amqp_url=amqp_url, log_level="DEBUG")
    async with observe(amqp_url, "generation.requested") as seen, running_relay(local):
        async with running_client(local) as client:
            created = await client.post(
                "/api/images/generate",
                json=SMALL_IMAGE,
                headers={"Authorization": f"Bearer {good}", "Idempotency-Key": "k-1"},
            )
            assert created.status_code == 202
            job_id = uuid.UUID(created.json()["job_id"])
            # released by the scheduler (then relayed) before it completes, as a real job is
            await eventually(lambda: _published(seen), timeout=15)
            for token in (forged, expired, good + "x"):
                r = await client.get(
                    f"/api/images/{job_id}/status", headers={"Authorization": f"Bearer {token}"}
                )
                assert r.status_code == 401
                bodies.append(("401", r.text))
            r = await client.post(
                "/api/images/generate",
                json={**SMALL_IMAGE, "prompt": f"Bearer {good}", "width": 3},
                headers={"Authorization": f"Bearer {good}"},
            )
            assert r.status_code == 422
            # signed media URLs: the signature must not be logged, valid or tampered
            from sorami_gateway.infra.db import create_engine, create_session_factory

            engine = create_engine(local, pool_size=1, max_overflow=0)
            try:
                await Projector(create_session_factory(engine)).handle(
                    ev.completed(job_id, kind=Kind.IMAGE), FIRST
                )
            finally:
                await engine.dispose()
            result = await client.get(
                f"/api/images/{job_id}/result", headers={"Authorization": f"Bearer {good}"}
            )
            url = urlparse(result.json()["files"][0]["url"])
            signature = parse_qs(url.query)["signature"][0]
            secrets["media signature"] = signature
            for query in (url.query, url.query.replace(signature[:8], "0" * 8)):
                r = await client.get(f"{url.path}?{query}")
                assert r.status_code in (403, 404)
                bodies.append(("media", r.text))
        # a component that logs a URL or a header by mistake still writes no secret
        log.warning(
            "misconfigured component",
            dsn=db_url,
            header=f"Authorization: Bearer {good}",
            media_url=f"{url.path}?{url.query}",
            s3_secret_access_key=S3_SECRET_KEY,
        )
        log.info(f"connecting to {db_url} with Bearer {good}")

    await _webhooks(make_settings, db_url, good, secrets)

    # S3 backend (unreachable endpoint): results carry presigned URLs for their owner only
    s3 = make_settings(
        database_url=db_url,
        storage_backend="s3",
        s3_endpoint_url="http://127.0.0.1:1",
        s3_bucket="media",
        s3_access_key_id=S3_ACCESS_KEY,
        s3_secret_access_key=S3_SECRET_KEY,
    )
    async with running_client(s3) as client:
        result = await client.get(
            f"/api/images/{job_id}/result", headers={"Authorization": f"Bearer {good}"}
        )
        assert result.status_code == 200
        presigned = urlparse(result.json()["files"][0]["url"])
        assert S3_SECRET_KEY not in result.text
        query = parse_qs(presigned.query)
        if "X-Amz-Signature" in query:
            secrets["presigned signature"] = query["X-Amz-Signature"][0]
        elif "Signature" in query:
            secrets["presigned signature"] = query["Signature"][0]
        else:
            raise AssertionError(f"not a presigned URL: {presigned.geturl()}")
        missing = await client.get(
            "/api/images/00000000-0000-0000-0000-000000000000/result",
            headers={"Authorization": f"Bearer {good}"},
        )
        bodies.append(("404", missing.text))

    # the database is down: 503, and neither the URL's password nor internals in the answer
    down = make_settings(database_url=with_password.set(port=1).render_as_string(False))
    async with running_client(down) as client:
        r = await client.post(
            "/api/images/generate",
            json=SMALL_IMAGE,
            headers={"Authorization": f"Bearer {good}"},
        )
        assert r.status_code == 503
        bodies.append(("503", r.text))
    return secrets, bodies


async def _webhooks(make_settings, db_url: str, good: str, secrets: dict[str, str]) -> None:
    """A delivery that fails once (logged as a warning) then succeeds, to a per-request URL
    and to an endpoint whose secret was rotated."""
    hooks = make_settings(
        database_url=db_url,
        webhooks={
            "allowed_networks": ["127.0.0.0/8"],
            "allow_http": True,
            "backoff_base_s": 0.05,
            "backoff_max_s": 0.1,
        },
    )
    token = "hook-token-" + uuid.uuid4().hex
    secrets["webhook url token"] = token
    headers = {"Authorization": f"Bearer {good}"}
    async with receiving() as receiver, running_client(hooks) as client:
        receiver.script = [500]
        r = await client.get("/api/webhooks/secret", headers=headers)
        secrets["webhook default secret"] = r.json()["secret"]
        r = await client.post(
            "/api/webhooks/endpoints",
            json={"url": f"{receiver.url}/ep/{token}", "events": ["completed"]},
            headers=headers,
        )
        secrets["webhook endpoint secret"] = r.json()["secret"]
        r = await client.post(f"/api/webhooks/endpoints/{r.json()['id']}/rotate", headers=headers)
        secrets["webhook rotated secret"] = r.json()["secret"]
        r = await client.post(
            "/api/images/generate",
            json={**SMALL_IMAGE, "webhook_url": f"{receiver.url}/hook?token={token}"},
            headers=headers,
        )
        job_id = uuid.UUID(r.json()["job_id"])
        from sorami_gateway.infra.db import create_engine, create_session_factory

        engine = create_engine(hooks, pool_size=1, max_overflow=0)
        try:
            async with running_deliverer(hooks):
                await Projector(create_session_factory(engine)).handle(
                    ev.completed(job_id, kind=Kind.IMAGE), FIRST
                )
                await eventually(lambda: _received(receiver, 3), timeout=15)
        finally:
            await engine.dispose()


async def _received(receiver, n: int) -> bool:
    return len(receiver.received) >= n


async def _published(seen) -> bool:
    return len(seen.messages) >= 1
