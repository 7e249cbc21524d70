"""Log redaction: secrets by key and inside free text, in every service's log lines."""

from __future__ import annotations

import json

import pytest
import structlog
from sorami_shared.logging import configure_logging, get_logger, scrub

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"Authorization: Bearer {JWT}", JWT),
        ("Authorization: Bearer opaque-token_123", "opaque-token_123"),
        ("basic auth: Basic YWxpY2U6cHc=", "YWxpY2U6cHc="),
        (f"token {JWT} in a sentence", JWT),
        ("postgresql+asyncpg://postgres:hunter2@db:5432/sorami", "hunter2"),
        ("amqp://sorami:rabbit-pw@broker:5672/vhost", "rabbit-pw"),
        ("http://gw/media/image/x/0.png?expires=1&signature=abcdef0123", "abcdef0123"),
        (
            "https://s3/b/k.png?X-Amz-Credential=AKIAXX%2F2026&X-Amz-Signature=f00d&X-Amz-Security-Token=tok",
            "f00d",
        ),
        ("https://s3/b/k.png?X-Amz-Credential=AKIAXX%2F2026", "AKIAXX"),
        ("https://s3/b/k.png?X-Amz-Security-Token=sessiontok", "sessiontok"),
        ("GET /api/events?stream_token=st-capability&last_event_id=3", "st-capability"),
        ("https://cb/?access_token=at-123", "at-123"),
    ],
)
def test_scrub_removes_secrets_from_text(text, secret):
    assert secret not in scrub(text)


def test_scrub_keeps_ordinary_text():
    text = (
        "job 0081f567 completed in 1.2 s: http://gw/api/images/x/status?limit=3 user a:b; "
        "basic checks passed; the bearer of news"
    )
    assert scrub(text) == text


def test_log_lines_never_carry_secrets(capsys):
    configure_logging("unit", fmt="json", level="DEBUG")
    try:
        log = get_logger("unit-redaction")
        log.info(
            "connecting",
            database_url="postgresql://u:pw-in-url@h/db",
            jwt_secret="s3cr3t-value",
            s3_secret_access_key="aws-secret",
            api_key="sk-live",
            headers={"Authorization": f"Bearer {JWT}", "x-request": "ok"},
            nested=[{"password": "p4ss"}, "Bearer abc.def.ghi"],
            job_id="j-1",
        )
        try:
            raise RuntimeError(f"cannot reach postgresql://u:tb-secret@h/db with Bearer {JWT}")
        except RuntimeError:
            log.exception("failed")
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]
    finally:
        structlog.reset_defaults()
    text = json.dumps(lines)
    for secret in ("pw-in-url", "s3cr3t-value", "aws-secret", "sk-live", JWT, "p4ss", "tb-secret"):
        assert secret not in text
    assert lines[0]["job_id"] == "j-1" and lines[0]["headers"]["x-request"] == "ok"
    assert "RuntimeError" in lines[1]["exception"]
