"""Webhook URL validation, deterministic message ids, retry backoff bounds."""

from __future__ import annotations

import uuid

import pytest
from sorami_gateway.webhooks.deliverer import Deliverer
from sorami_gateway.webhooks.outbox import webhook_id
from sorami_gateway.webhooks.settings import WebhookSettings
from sorami_gateway.webhooks.urls import check_url, redacted


@pytest.mark.parametrize(
    ("url", "http", "problem"),
    [
        ("http://hooks.example.com/x", False, "must be an https URL"),
        ("ftp://hooks.example.com/x", True, "must be an http or https URL"),
        ("https://user:pw@hooks.example.com/x", False, "credentials"),
        ("https://token@hooks.example.com/x", False, "credentials"),
        ("https:///path-only", False, "must name a host"),
        ("https://hooks.example.com/x#frag", False, "fragment"),
        ("https://hooks.example.com/a b", False, "spaces"),
        ("https://hooks.example.com:99999/", False, "not a valid URL"),
        ("https://hooks.example.com/" + "a" * 100, False, "at most 64 characters"),
    ],
)
def test_bad_urls_are_refused_naming_why(url, http, problem):
    with pytest.raises(ValueError, match=problem):
        check_url(url, http=http, max_length=64)


def test_good_urls_pass():
    assert check_url("https://hooks.example.com/a?b=1", http=False, max_length=64)
    assert check_url("http://127.0.0.1:9000/hook", http=True, max_length=64)


def test_logs_see_only_scheme_host_and_port():
    assert redacted("https://discord.com/api/webhooks/123/SECRET-TOKEN?x=1") == (
        "https://discord.com"
    )
    assert redacted("http://127.0.0.1:9000/p/q") == "http://127.0.0.1:9000"


def test_webhook_id_is_deterministic_per_job_and_event():
    job, other = uuid.uuid4(), uuid.uuid4()
    assert webhook_id(job, "completed") == webhook_id(job, "completed")
    assert webhook_id(job, "completed").startswith("msg_")
    ids = {webhook_id(job, "completed"), webhook_id(job, "failed"), webhook_id(other, "completed")}
    assert len(ids) == 3
    assert webhook_id(job, "progress", 3) != webhook_id(job, "progress", 4)


def test_backoff_is_exponential_with_jitter_and_capped():
    d = Deliverer.__new__(Deliverer)
    d.settings = WebhookSettings(backoff_base_s=2, backoff_max_s=60)
    for attempts, ceiling in ((1, 2), (2, 4), (3, 8), (5, 32), (9, 60), (30, 60)):
        values = [d.backoff_s(attempts) for _ in range(200)]
        assert all(ceiling / 2 <= v <= ceiling for v in values)
        assert len(set(values)) > 100  # jittered, not a fixed schedule
