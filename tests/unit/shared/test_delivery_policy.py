import json
import logging

import structlog
from sorami_shared.logging import configure_logging, get_logger, job_context
from sorami_shared.messaging import Delivery, backoff_seconds
from sorami_shared.settings import Environment, ServiceSettings


def test_backoff_grows_and_is_capped():
    values = [backoff_seconds(n) for n in range(1, 10)]
    assert values == sorted(values)
    assert values[0] == 0.5 and values[1] == 1.0
    assert max(values) == 10.0


def test_last_attempt_is_known_to_the_handler():
    assert not Delivery(attempt=1, max_attempts=6, redelivered=False).is_last_attempt
    assert Delivery(attempt=6, max_attempts=6, redelivered=True).is_last_attempt


def test_log_format_defaults_to_json_outside_development(monkeypatch):
    monkeypatch.delenv("SORAMI_LOG_FORMAT", raising=False)
    assert ServiceSettings(environment=Environment.PRODUCTION).effective_log_format == "json"
    assert ServiceSettings(environment=Environment.DEVELOPMENT).effective_log_format == "console"
    assert ServiceSettings(log_format="json").effective_log_format == "json"


def test_json_logs_carry_the_job_context_and_never_secrets(capsys):
    configure_logging("unit", fmt="json", level="INFO")
    try:
        log = get_logger("t")
        with job_context(job_id="j-1", user_id="alice", correlation_id="c-9"):
            log.info("working", token="eyJhbGciOi.secret", step=3)
        logging.getLogger("stdlib").warning("from stdlib")
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]
    finally:
        structlog.reset_defaults()
    working = next(x for x in lines if x["event"] == "working")
    assert working["job_id"] == "j-1"
    assert working["user_id"] == "alice"
    assert working["correlation_id"] == "c-9"
    assert working["service"] == "unit"
    assert working["token"] == "[redacted]"
    assert "eyJhbGciOi" not in json.dumps(lines)
    stdlib = next(x for x in lines if x["event"] == "from stdlib")
    assert stdlib["level"] == "warning" and "job_id" not in stdlib
