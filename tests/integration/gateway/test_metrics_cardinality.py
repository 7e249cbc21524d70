"""Metric label cardinality stays bounded: 200 jobs from 50 users through the code paths that
create the gateway's labels (the API in-process: HTTP routes and job creation; the projector:
outcomes, latency, queue wait; the API's cancel), on a real PostgreSQL. The whole system would
take minutes of CPU for the same labels; the generator's labels are model/kind names only
(tests/e2e/test_metrics.py checks them and every process's labels on a real run).

Bounded means: the number of ``sorami_*`` series after all 200 jobs equals the number after
the first 80 (which already saw every kind, outcome and failure code), and no label value is a
job id or a user id."""

from __future__ import annotations

import re
import uuid

import pytest
from prometheus_client import REGISTRY
from sorami_gateway.infra.db import create_engine, create_session_factory
from sorami_gateway.workers.projector import Projector
from sorami_shared.events import FailureCode, Kind
from sorami_shared.messaging import Delivery

from .conftest import SMALL_IMAGE, SMALL_VIDEO, auth, running_client
from .projection_events import completed, failed, progress

pytestmark = pytest.mark.integration

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
USERS = [f"cardinality-user-{n}" for n in range(50)]
CODES = list(FailureCode)
DELIVERY = Delivery(attempt=1, max_attempts=6, redelivered=False)


def sorami_series() -> dict[str, set[tuple[tuple[str, str], ...]]]:
    series: dict[str, set[tuple[tuple[str, str], ...]]] = {}
    for family in REGISTRY.collect():
        if family.name.startswith("sorami_"):
            for s in family.samples:
                series.setdefault(s.name, set()).add(tuple(sorted(s.labels.items())))
    return series


async def run_jobs(client, projector: Projector, numbers: range) -> None:  # noqa: ANN001
    for n in numbers:
        user = USERS[n % len(USERS)]
        kind = Kind.VIDEO if (n // 4) % 2 else Kind.IMAGE  # failures: every (kind, code)
        body = SMALL_VIDEO if kind == Kind.VIDEO else SMALL_IMAGE
        r = await client.post(f"/api/{kind.value}s/generate", json=body, headers=auth(user))
        assert r.status_code == 202, r.text
        job_id = uuid.UUID(r.json()["job_id"])
        status = await client.get(f"/api/{kind.value}s/{job_id}/status", headers=auth(user))
        assert status.status_code == 200
        project = projector.handle
        match n % 4:
            case 0 | 3:  # completed (3: without a progress event first)
                if n % 4 == 0:
                    await project(progress(job_id, 50, user=user, kind=kind), DELIVERY)
                await project(completed(job_id, user=user, kind=kind), DELIVERY)
            case 1:  # failed, every code in turn
                await project(progress(job_id, 10, user=user, kind=kind), DELIVERY)
                code = CODES[(n // 8) % len(CODES)]  # each code for both kinds, by job 64
                await project(failed(job_id, user=user, kind=kind, code=code), DELIVERY)
            case 2:  # cancelled by its user
                r = await client.post(f"/api/{kind.value}s/{job_id}/cancel", headers=auth(user))
                assert r.status_code == 202, r.text
    bad = await client.post("/api/images/generate", json={"width": 3}, headers=auth(USERS[0]))
    assert bad.status_code == 422


async def test_label_cardinality_is_bounded_after_200_jobs_from_50_users(make_settings) -> None:
    settings = make_settings(rate_limit_generations=0, max_unfinished_jobs=0)
    engine = create_engine(settings, pool_size=2, max_overflow=2)
    projector = Projector(create_session_factory(engine))
    try:
        async with running_client(settings) as client:
            await run_jobs(client, projector, range(0, 80))
            after_80 = sorami_series()
            await run_jobs(client, projector, range(80, 200))
            after_200 = sorami_series()
    finally:
        await engine.dispose()

    counts = {name: len(labels) for name, labels in after_200.items()}
    print(f"[cardinality] {sum(counts.values())} sorami_ series after 200 jobs from 50 users")
    assert after_200 == after_80, {
        name: labels - after_80.get(name, set()) for name, labels in after_200.items()
    }
    # every (kind, outcome, code) seen, and no more: the closed sets bound it
    assert counts["sorami_jobs_finished_total"] == len(Kind) * (2 + len(CODES))
    for labels in (lab for series in after_200.values() for lab in series):
        for _, value in labels:
            assert not UUID.search(value) and value not in USERS, labels
