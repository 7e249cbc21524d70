"""Schemathesis against the gateway's own OpenAPI document: every documented operation, valid
(positive) and invalid (negative) requests, authenticated, over real HTTP to a real uvicorn
server on a migrated database. At least 1000 requests; no server error; every answer
conforms to the schema (status code, content type, headers, body); invalid input refused.

``SORAMI_FUZZ_EXAMPLES`` (per operation and mode; 15 in ``make test``, about 1,200 requests;
``make security-figures`` runs 40, about 3,300) and ``SORAMI_FUZZ_SEED`` tune a longer run.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sorami_gateway.app import create_app
from sorami_gateway.openai.schemas import ImageGenerationRequest, VideoCreateRequest
from sorami_gateway.settings import GatewaySettings

from tests.integration.gateway.conftest import SMALL_IMAGE, auth

from .live_server import serve_in_thread

EXAMPLES = int(os.environ.get("SORAMI_FUZZ_EXAMPLES", "15"))
SEED = int(os.environ.get("SORAMI_FUZZ_SEED", "6"))
MIN_REQUESTS = 1000
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

pytestmark = pytest.mark.timeout(300)


def test_fuzz_the_openapi_schema(make_settings, amqp_url):
    # a reachable broker, so that /readyz is ready (503 there would be a true answer)
    tuning = {"openai_image_wait_s": 0.05, "events_max_stream_s": 0.2}  # bounded waits
    settings = make_settings(
        amqp_url=amqp_url,
        rate_limit_generations=0,
        max_unfinished_jobs=0,
        **{k: v for k, v in tuning.items() if k in GatewaySettings.model_fields},
    )
    app = create_app(settings)
    schema = schemathesis.openapi.from_dict(app.openapi())
    headers = auth("fuzzer")
    calls: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    failures: list[str] = []

    with serve_in_thread(app) as base_url, requests.Session() as session:
        # real ids for the path parameters some of the time (a job of the fuzzer's own)
        created = session.post(f"{base_url}/api/images/generate", json=SMALL_IMAGE, headers=headers)
        assert created.status_code == 202, created.text
        for result in schema.get_all_operations():
            for mode in GenerationMode:
                fuzz = _fuzzer(result.ok(), mode, base_url, session, headers)
                fuzz(calls, statuses, failures)

    total = sum(calls.values())
    print(
        f"\n[fuzz] {total} requests over {len(calls)} operations; statuses {dict(statuses)}; "
        f"{len(failures)} failures"
    )
    distinct = Counter(f.split(" | [", 1)[0] for f in failures)
    assert not failures, "\n".join(
        [f"{n} x {kind}" for kind, n in distinct.most_common()]
        + ["", "first of each:"]
        + [next(f for f in failures if f.startswith(kind)) for kind in distinct]
    )
    assert statuses[500] == 0
    assert total >= MIN_REQUESTS, f"only {total} requests: raise SORAMI_FUZZ_EXAMPLES"
    assert uuid.UUID(created.json()["job_id"])


def _fuzzer(operation, mode, base_url, session, headers):
    checks = CHECKS + ([negative_data_rejection] if mode == GenerationMode.NEGATIVE else [])
    label = f"{operation.label} [{mode.value}]"

    def fuzz(calls, statuses, failures):
        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        @hypothesis.seed(SEED)
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case):
            case.headers = {**(case.headers or {}), **headers}
            response = case.call(base_url=base_url, session=session, timeout=10)
            calls[label] += 1
            statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=_checks_for(response, checks))
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - reported together
                failures.append(f"{label}: {_summary(exc)}")

        try:
            run()
        except hypothesis.errors.Unsatisfiable:
            # nothing to make invalid (an operation without parameters or body)
            assert mode == GenerationMode.NEGATIVE, label

    return fuzz


def _checks_for(response, checks):
    """POST /v1/images/generations waits a bounded time for its images (OpenAI's call is
    synchronous); no generator runs here, so a valid request gets the documented 504
    ``generation_pending`` naming the job to follow. That 5xx is the answer, not a crash: every
    other check still applies."""
    if response.status_code == 504:
        try:
            code = response.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = None
        if code == "generation_pending":
            return [c for c in checks if c is not not_a_server_error]
    return checks


def _summary(exc: BaseException) -> str:
    """The checks that failed, what was received, and how to reproduce (one failure)."""
    text = str(exc)
    keep = [
        line.strip()
        for line in text.splitlines()
        if line.strip().startswith(
            ("- ST", "Received", "Documented", "curl ", "`", "[", "Expected")
        )
    ]
    return " | ".join(keep)[:1200] or text[:1200]


NON_FINITE = ("NaN", "Infinity", "-Infinity", "1e999")


def _numeric_fields(schema: dict, document: dict) -> set[str]:
    """Names of the number/integer properties of a body schema (through $ref and anyOf)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _numeric_fields(document["components"]["schemas"][name], document)
    names: set[str] = set()
    for option in schema.get("anyOf", []) + schema.get("oneOf", []):
        names |= _numeric_fields(option, document)
    for name, prop in schema.get("properties", {}).items():
        types = {prop.get("type")} | {o.get("type") for o in prop.get("anyOf", [])}
        if types & {"number", "integer"}:
            names.add(name)
    return names


def test_non_finite_numbers_in_every_json_body_are_4xx(make_settings):
    # issue 11: JSON extended with NaN/Infinity (what Python's json and JavaScript's
    # JSON.stringify-alikes send) and 1e999 (a float overflow), in every numeric field of
    # every documented JSON body: a 4xx with a JSON body, never a 500
    settings = make_settings(rate_limit_generations=0, max_unfinished_jobs=0)
    app = create_app(settings)
    document = app.openapi()
    targets = [  # (method, path, body schema, where $refs resolve)
        (method, path, body["content"]["application/json"]["schema"], document)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "application/json" in (body := operation.get("requestBody", {})).get("content", {})
    ]
    # /v1 parses its bodies itself (JSON or multipart): its models, not the document, say
    for path, model in (
        ("/v1/images/generations", ImageGenerationRequest),
        ("/v1/videos", VideoCreateRequest),
    ):
        schema = model.model_json_schema()
        targets.append(("post", path, schema, {"components": {"schemas": schema.get("$defs")}}))
    sent = 0
    with serve_in_thread(app) as base_url, requests.Session() as session:
        for method, path, schema, refs in targets:
            url = base_url + path.replace("{kind}", "images")
            for field in sorted(_numeric_fields(schema, refs)):
                for literal in NON_FINITE:
                    response = session.request(
                        method.upper(),
                        url,
                        data=f'{{"prompt": "x", "{field}": {literal}}}',
                        headers={**auth("fuzzer"), "Content-Type": "application/json"},
                        timeout=10,
                    )
                    sent += 1
                    where = f"{method.upper()} {path} {field}={literal}"
                    assert 400 <= response.status_code < 500, (where, response.text)
                    assert response.json(), where
    print(f"\n[fuzz] {sent} non-finite numbers sent, every one refused with a 4xx")
    assert sent >= 60
