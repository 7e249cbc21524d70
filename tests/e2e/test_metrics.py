"""Every process serves Prometheus metrics, and after a few real jobs they say what happened:
created = completed + failed + cancelled, each stage observed, messages counted by queue, the
notifier's deliveries, and no label value is a job or user id."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import defaultdict

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.system import System, wait_terminal

pytestmark = pytest.mark.e2e

GHOST_MODEL = "ghost-image"  # in the gateway's registry and allow-list, not the generator's: FAILED
SMALL = {"width": 64, "height": 64, "num_inference_steps": 2}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PROCESSES = (
    "gateway-api",
    "gateway-relay",
    "gateway-projector",
    "gateway-watchdog",
    "generator-0",
    "notifier",
)

Samples = dict[str, list[tuple[dict[str, str], float]]]


async def scrape(port: int) -> tuple[set[str], Samples]:
    """(family names, samples by sample name) of one /metrics endpoint."""
    async with httpx.AsyncClient(timeout=5) as client:
        r = await client.get(f"http://127.0.0.1:{port}/metrics")
    assert r.status_code == 200, r.text
    families, samples = set(), defaultdict(list)
    for family in text_string_to_metric_families(r.text):
        families.add(family.name)
        for s in family.samples:
            samples[s.name].append((s.labels, s.value))
    return families, samples


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        v for lab, v in samples.get(name, []) if all(lab.get(k) == w for k, w in labels.items())
    )


async def test_every_process_reports_what_the_jobs_did(make_system) -> None:
    system: System = await make_system(
        image_models=["tiny-image", GHOST_MODEL],
        gateway_models={GHOST_MODEL: {"source": "ghost/none", "kind": "image"}},
        # a generator answers for it (its queue) without knowing it: unknown_model
        generator_overrides={"SERVE_MODELS": json.dumps(["tiny-image", "tiny-video", GHOST_MODEL])},
        watchdog=True,
    )
    users = ["metrics-ann", "metrics-bob"]
    jobs: list[tuple[str, str, str]] = []  # (user, kind, job id)
    for i, (kind, body) in enumerate(
        [
            ("image", {"prompt": "a fox"}),
            ("image", {"prompt": "a cat", "num_images": 2}),
            ("video", {"prompt": "waves", "num_frames": 4, "fps": 4}),
            ("image", {"prompt": "ghost", "model": GHOST_MODEL}),
        ]
    ):
        user = users[i % 2]
        async with system.client(user) as c:
            r = await c.post(f"/api/{kind}s/generate", json={**SMALL, **body})
            assert r.status_code == 202, r.text
            jobs.append((user, kind, r.json()["job_id"]))
    # one cancelled at once, while it is still PENDING or PROCESSING (or already done: 409)
    async with system.client(users[0]) as c:
        r = await c.post("/api/images/generate", json={**SMALL, "prompt": "never mind"})
        cancel_id = r.json()["job_id"]
        cancel = await c.post(f"/api/images/{cancel_id}/cancel")
        assert cancel.status_code in (202, 409), cancel.text
    jobs.append((users[0], "image", cancel_id))

    outcomes: dict[str, int] = defaultdict(int)
    for user, kind, job_id in jobs:
        async with system.client(user) as c:
            status, _ = await wait_terminal(c, kind, job_id, within_s=90, interval=0.2)
        outcomes[status["status"].lower()] += 1
    assert outcomes["completed"] >= 3 and outcomes["failed"] == 1, outcomes

    scraped: dict[str, tuple[set[str], Samples]] = {}
    deadline = time.monotonic() + 30
    while True:  # the notifier and the relay's samples catch up within seconds
        for name in PROCESSES:
            scraped[name] = await scrape(system.metrics_ports[name])
        notifier, relay = scraped["notifier"][1], scraped["gateway-relay"][1]
        delivered = total(notifier, "sorami_notifications_delivered_total", channel="inbox")
        sampled = min(
            total(sampler, "sorami_queue_consumers", queue="generator.requests")
            for sampler in (relay, scraped["gateway-watchdog"][1])
        )
        if delivered >= outcomes["completed"] + outcomes["failed"] and sampled >= 1:
            break
        assert time.monotonic() < deadline, (delivered, sampled, outcomes)
        await asyncio.sleep(0.5)

    async with httpx.AsyncClient(timeout=5) as client:  # the probes Kubernetes uses
        for name in PROCESSES:
            for probe in ("healthz", "readyz"):
                r = await client.get(f"http://127.0.0.1:{system.metrics_ports[name]}/{probe}")
                assert r.status_code == 200, (name, probe, r.text)

    api, projector = scraped["gateway-api"][1], scraped["gateway-projector"][1]
    generator, watchdog = scraped["generator-0"], scraped["gateway-watchdog"]
    created = total(api, "sorami_jobs_created_total")
    finished = {
        outcome: total(api, "sorami_jobs_finished_total", outcome=outcome)
        + total(projector, "sorami_jobs_finished_total", outcome=outcome)
        for outcome in ("completed", "failed", "cancelled")
    }
    print(f"[metrics] created={created} finished={finished} outcomes={dict(outcomes)}")
    assert created == len(jobs)
    assert created == sum(finished.values())
    assert finished == {k: float(outcomes[k]) for k in finished}
    assert total(api, "sorami_jobs_created_total", kind="video", model="tiny-video") == 1
    assert total(projector, "sorami_jobs_finished_total", code="unknown_model") == 1
    latencies = total(api, "sorami_job_latency_seconds_count") + total(
        projector, "sorami_job_latency_seconds_count"
    )
    assert latencies == created
    assert total(projector, "sorami_job_queue_wait_seconds_count") >= outcomes["completed"]
    # HTTP: by route template (never by id) and status
    assert total(api, "sorami_http_requests_total", handler="/api/{kind}/generate", status="202")
    assert total(api, "sorami_http_requests_total", handler="/api/{kind}/{job_id}/status")
    assert total(api, "sorami_http_request_duration_seconds_count") > 0

    # messaging: published by the relay, consumed by queue
    # every job's request, but the cancelled one's when its cancel came while it still waited
    # in the scheduler's queue (it left the queue unpublished: nothing to run)
    published = total(relay, "sorami_events_published_total", event_type="generation.requested")
    assert len(jobs) - outcomes["cancelled"] <= published <= len(jobs), published
    consumed = "sorami_messages_consumed_total"
    per_model = [f"generator.requests.{m}" for m in ("tiny-image", "tiny-video", GHOST_MODEL)]
    acked = sum(total(generator[1], consumed, queue=q, outcome="acked") for q in per_model)
    assert acked >= 4  # a queue per model
    assert "sorami_scheduler_queued_jobs" in scraped["gateway-relay"][0]
    assert total(projector, consumed, queue="gateway.projection", outcome="acked") >= created
    assert total(scraped["notifier"][1], consumed, queue="notifier.outcomes", outcome="acked") >= 4
    assert total(relay, "sorami_queue_messages", queue="generator.requests.dlq") == 0
    assert "sorami_outbox_backlog" in scraped["gateway-relay"][0]
    assert "sorami_outbox_backlog" not in scraped["gateway-api"][0]  # the relay's alone
    assert "sorami_outbox_oldest_age_seconds" in scraped["gateway-relay"][0]
    # the watchdog samples the same (a stopped relay is still seen by the alerts)
    assert "sorami_outbox_oldest_age_seconds" in scraped["gateway-watchdog"][0]
    assert (
        total(scraped["gateway-watchdog"][1], "sorami_queue_consumers", queue="generator.requests")
        >= 1
    )

    # the generator's stages
    g = generator[1]
    assert total(g, "sorami_generator_pipeline_seconds_count", model="tiny-image") >= 2
    assert total(g, "sorami_generator_batch_size_count") == total(
        g, "sorami_generator_pipeline_seconds_count"
    )
    # each call counts the jobs it ran: the completed ones, and the cancelled one when its
    # cancel came after it started; jobs queued together may share a call (batching)
    ran = total(g, "sorami_generator_batch_size_sum")
    assert outcomes["completed"] <= ran <= outcomes["completed"] + outcomes["cancelled"], ran
    assert total(g, "sorami_generator_batch_size_count") <= ran
    assert total(g, "sorami_generator_encode_seconds_count", kind="video") >= 1
    assert total(g, "sorami_generator_upload_seconds_count", kind="image") >= 2
    assert total(g, "sorami_generator_models_loaded") == 2
    assert total(g, "sorami_generator_model_load_seconds_count") == 2
    assert 0 < total(g, "sorami_generator_device_busy_seconds_total")
    assert 0 <= total(g, "sorami_generator_gpu_busy_ratio") <= 1
    assert "sorami_generator_oom" in generator[0]
    assert total(g, "sorami_generator_jobs_total", outcome="failed", code="unknown_model") == 1
    assert "sorami_watchdog_jobs" in watchdog[0]
    assert total(watchdog[1], "sorami_watchdog_jobs_total", action="failed") == 0

    # bounded labels: no job id and no user id anywhere
    for name, (_, samples) in scraped.items():
        for series in samples.values():
            for labels, _ in series:
                for value in labels.values():
                    assert not UUID.search(value), (name, labels)
                    assert value not in users, (name, labels)
