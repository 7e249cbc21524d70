"""The fault-injection run at cluster scale: image and video jobs from several users, and one
user's batch (``POST /api/batches``), while every process is SIGKILLed and restarted (the
relay, and with it the scheduler; two generators, one for the image models and one for the
video model, each killed mid-batch), a broker node of a 3-node cluster is killed and brought
back, another is partitioned from the other two, broker and database connections are cut and
slowed, and duplicated, late and poison events are injected (the schedule: ``schedule.py``).
Then every accepted job (the batch's too) is classified lost / duplicated / ok, and the run
fails unless lost = duplicated = 0, every job ran on its model's generator only, the batch's
own counts (``GET /api/batches/{id}``) agree with its jobs, every poison message sits in a
dead-letter queue, every queue is still replicated on the three nodes and every consumer is
still running. A third of the single jobs ask for a webhook: each one's terminal event must
reach the receiver, signed, once; so must the batch's ``batch.completed`` (to its user's
standing endpoint).

``SORAMI_FAULTS_IMAGES`` / ``_VIDEOS`` / ``_BATCH`` set the mix (300 jobs by default: 190 single
images, 70 videos and a batch of 40 images; ``make test-chaos-cluster``: 2,000 single jobs),
``SORAMI_FAULTS_REPORT`` where the figures go."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections import Counter
from pathlib import Path

import httpx

from tests.support.chaos_proxy import ChaosProxy
from tests.support.webhooks import receiving

from .checker import (
    BATCH_COMPLETED,
    TERMINAL,
    Verdict,
    batch_problems,
    classify,
    classify_batch_webhooks,
    classify_webhooks,
    completions,
    snapshot,
)
from .dead_letters import WORK_QUEUES, dead_letters
from .harness import (
    BROKEN_MODEL,
    BROKEN_MODEL_SPEC,
    GENERATOR_SERVES,
    WEBHOOK_SETTINGS,
    FaultSystem,
    FlakyReceiver,
    generator_of,
)
from .injector import Injector
from .rabbit_cluster import RabbitCluster
from .schedule import GENERATORS, PROCESSES, Run

USERS = [f"user{i}" for i in range(5)]
IMAGES = int(os.environ.get("SORAMI_FAULTS_IMAGES", "190"))
VIDEOS = int(os.environ.get("SORAMI_FAULTS_VIDEOS", "70"))
BROKEN = 3
BATCH = int(os.environ.get("SORAMI_FAULTS_BATCH", "40"))
SETTLE_S = float(os.environ.get("SORAMI_FAULTS_SETTLE_S", "900"))
# The watchdog's pending lease: above the longest queue wait of the run (300 jobs: under 5 min;
# a long run's backlog waits longer), and short enough to rescue, within the run, a job
# dead-lettered while PENDING by lost connections alone (docs/reliability.md, "Delivery
# attempts spent by lost connections").
PENDING_LEASE_S = os.environ.get("SORAMI_FAULTS_PENDING_LEASE_S", "420")

SERVICES = ("gateway", "generator", "notifier")


async def settle(run: Run, within_s: float) -> None:
    """Every accepted job terminal, its notifications in, its webhook acknowledged (and each
    batch's), the work queues empty."""
    ids = {a.job_id for a in run.accepted}
    urls = run.system.database_urls

    async def settled() -> bool:
        snap = await snapshot(urls["gateway"], urls["notifier"])
        gens = snap["generations"]
        if any(gens.get(i, {}).get("status") not in TERMINAL for i in ids):
            return False
        for i in ids:
            outcome = gens[i]["status"].lower()
            if not snap["notes"].get((i, outcome)) or not snap["gw_notes"].get((i, outcome)):
                return False
        if not webhooks_settled(run, gens):
            return False
        queues = await asyncio.to_thread(run.cluster.queues)
        return all(queues.get(q, (1, 0))[0] == 0 for q in WORK_QUEUES)

    deadline = time.monotonic() + within_s
    while not await settled():
        if time.monotonic() > deadline:
            return  # the checker says what is missing
        await asyncio.sleep(2)


def webhooks_settled(run: Run, gens: dict) -> bool:
    acked = set()
    for r in run.receiver.received:  # type: ignore[union-attr]
        if 200 <= r.status < 300:
            body = json.loads(r.body)
            acked.add((body["data"].get("job_id") or body["data"]["batch_id"], body["type"]))
    return all(
        (a.job_id, f"generation.{gens[a.job_id]['status'].lower()}") in acked
        for a in run.accepted
        if a.webhook
    ) and all((b, BATCH_COMPLETED) in acked for b in run.batches)


def under_replicated(cluster: RabbitCluster) -> dict[str, set[str]]:
    """Queues and streams not replicated on every node (a server-named exclusive queue, such
    as an API process's preview queue, lives and dies with its connection: not counted)."""
    every = {n.name for n in cluster.nodes}
    members = cluster.members().items()
    return {q: m for q, m in members if m != every and not q.startswith("amq")}


async def start_proxies(cluster: RabbitCluster) -> tuple[dict[str, list[ChaosProxy]], dict]:
    """One proxy per service and node; each service lists the nodes in its own order (so
    their connections spread over the cluster). Returns the proxies and each service's
    ``AMQP_URL``."""
    proxies: dict[str, list[ChaosProxy]] = {}
    urls: dict[str, str] = {}
    for k, service in enumerate(SERVICES):
        order = [cluster.nodes[(k + i) % len(cluster.nodes)] for i in range(len(cluster.nodes))]
        proxies[service] = [ChaosProxy(f"{service}-{n.name}", "127.0.0.1", n.port) for n in order]
        for proxy in proxies[service]:
            await proxy.start()
        urls[service] = ",".join(
            p.url_for(n.amqp_url) for p, n in zip(proxies[service], order, strict=True)
        )
    return proxies, urls


async def test_nothing_is_lost_or_doubled_under_faults(make_database, rabbit_cluster, tmp_path):
    started = time.monotonic()
    cluster = rabbit_cluster
    broker_proxies, broker_urls = await start_proxies(cluster)
    db_proxies = {s: ChaosProxy(f"db-{s}", "127.0.0.1", 5432) for s in ("gateway", "notifier")}
    for proxy in db_proxies.values():
        await proxy.start()
    media = tmp_path / "media"
    system = FaultSystem(
        base_dir=tmp_path / "system",
        database_urls={
            "gateway": await make_database("faults_gateway"),
            "notifier": await make_database("faults_notifier"),
        },
        amqp_url=",".join(cluster.amqp_urls),
        storage_env={"STORAGE_BACKEND": "local", "STORAGE_LOCAL_DIR": str(media)},
        model_cache_dir=Path(os.environ.get("SORAMI_FAULTS_MODEL_CACHE", tmp_path / "models")),
        image_models=["tiny-image", BROKEN_MODEL],
        generators=2,
        generator_serves=GENERATOR_SERVES,
        projectors=2,
        notifiers=2,
        watchdog=True,
        broker_proxies=broker_proxies,
        broker_urls=broker_urls,
        db_proxies=db_proxies,
        gateway_overrides={
            "WATCHDOG_INTERVAL_S": "2",
            "WATCHDOG_PROCESSING_LEASE_S": "45",
            "WATCHDOG_PENDING_LEASE_S": PENDING_LEASE_S,
            "RATE_LIMIT_GENERATIONS": "100000",
            "MAX_UNFINISHED_JOBS": "100000",
            "MODELS": json.dumps({BROKEN_MODEL: BROKEN_MODEL_SPEC}),
            **WEBHOOK_SETTINGS,
        },
        generator_overrides={
            "MODELS": json.dumps({BROKEN_MODEL: BROKEN_MODEL_SPEC}),
            # one batch in hand (CPU max_batch), not two: see docs/reliability.md, "Delivery
            # attempts spent by lost connections"
            "PREFETCH": "8",
        },
    )
    run = Run(system, cluster, USERS)
    injector = Injector(cluster.amqp_urls)
    verdict: Verdict | None = None
    hooks = contextlib.AsyncExitStack()
    try:
        run.receiver = await hooks.enter_async_context(receiving(FlakyReceiver()))
        await system.start(within_s=180)
        print(f"[faults] system up in {time.monotonic() - started:.1f}s")
        replicas_at_start = await asyncio.to_thread(under_replicated, cluster)
        run.receiver.secrets = {user: await signing_secret(run, user) for user in USERS}
        hook = f"{run.batch_user}-batches"  # the batch user's standing endpoint
        run.receiver.secrets[hook] = await batch_endpoint_secret(run, f"/faults/{hook}")
        await injector.poison()
        burst_started = time.monotonic()
        submit = asyncio.create_task(run.submit_all(IMAGES, VIDEOS, BROKEN, BATCH))
        await run.chaos(injector)
        await submit
        await injector.poison()  # once more, after every restart
        await settle(run, SETTLE_S)
        burst_s = time.monotonic() - burst_started

        snap = await snapshot(system.database_urls["gateway"], system.database_urls["notifier"])
        verdict = classify(run.accepted, snap, media)
        webhooks = classify_webhooks(run.accepted, snap, run.receiver.received)
        views = {b: await read_batch(run, b) for b in run.batches}
        wrong_batches = {
            b: batch_problems(view, [a for a in run.accepted if a.batch == b], snap)
            for b, view in views.items()
        }
        batch_hooks = classify_batch_webhooks(
            {b: view["counts"] for b, view in views.items()}, run.receiver.received
        )
        done = completions(
            {g: system.proc(g).log_path.read_text(errors="replace") for g in GENERATORS}
        )
        done_total = sum(done.values(), Counter())
        off_model = [
            a.job_id
            for a in run.accepted
            for g in GENERATORS
            if g != generator_of(a.kind) and done[g][a.job_id]
        ]
        dlqs = await dead_letters(cluster)
        queues = await asyncio.to_thread(cluster.queues)
        replicas_at_end = await asyncio.to_thread(under_replicated, cluster)
        dead = [p.name for p in system.procs if not p.alive()]
        poison_missing = [
            (p.what, q)
            for p in injector.poisons
            for q in p.dead_letter_queues
            if p.message_id not in dlqs.get(q, [])
        ]
        poison_ids = {p.message_id for p in injector.poisons}
        unexpected_dead_letters = {
            q: len([m for m in ids if m not in poison_ids]) for q, ids in dlqs.items()
        }
        broken_rows = [snap["generations"][a.job_id] for a in run.accepted if a.broken]
        figures = {
            "jobs_accepted": len(run.accepted),
            "images": sum(a.kind == "image" for a in run.accepted),
            "videos": sum(a.kind == "video" for a in run.accepted),
            "batch_jobs": sum(a.batch is not None for a in run.accepted),
            "batches": {b: view["counts"] for b, view in views.items()},
            "batch_webhook_verdict": dict(batch_hooks.counts),
            "users": len(USERS),
            "broker_nodes": len(cluster.nodes),
            "generators": dict(zip(GENERATORS, GENERATOR_SERVES, strict=True)),
            "rounds": run.rounds,
            "verdict": dict(verdict.counts),
            "webhook_verdict": {**webhooks.counts, **webhooks.statuses},
            "statuses": dict(verdict.statuses),
            "faults": dict(sorted(system.faults.items())),
            "batch_sizes_at_generator_kills": run.batch_sizes_killed,
            "jobs_fed_for_a_generator_kill": dict(run.fed),
            "jobs_run_to_completion_by_generator": {g: len(c) for g, c in done.items()},
            "jobs_run_to_completion_twice": sum(n > 1 for n in done_total.values()),
            "jobs_run_by_the_other_models_generator": len(off_model),
            "events_injected": injector.sent,
            "submit_retries_without_2xx": run.submit_errors,
            "submit_retries_answered_with_the_same_job": run.replayed,
            "dead_letters_unexpected": unexpected_dead_letters,
            "dead_lettered_requests_released_again": system.log_count(
                "", "dead-lettered request released again"
            ),
            "watchdog_requeues": sum(
                snap["generations"][a.job_id]["watchdog_requeues"] for a in run.accepted
            ),
            "in_place_outage_retries": system.log_count("", "retrying in place"),
            "failovers_to_next_node": system.log_count("", "next node"),
            "burst_to_settled_s": round(burst_s, 1),
            "total_s": round(time.monotonic() - started, 1),
        }
        print("[faults] figures:", json.dumps(figures, indent=2))
        out = os.environ.get("SORAMI_FAULTS_REPORT")
        if out:
            await asyncio.to_thread(Path(out).write_text, json.dumps(figures, indent=2) + "\n")
        for problem in (verdict.problems + webhooks.problems + batch_hooks.problems)[:30]:
            print("[faults]", problem)

        assert len(run.accepted) == IMAGES + VIDEOS + BROKEN + BATCH + sum(run.fed.values())
        assert len(run.batches) == (1 if BATCH else 0), run.batches
        assert verdict.lost == 0 and verdict.duplicated == 0, system.report(
            f"lost={verdict.lost} duplicated={verdict.duplicated}: {verdict.problems[:10]}"
        )
        assert not off_model, f"jobs run by the other model's generator: {off_model[:10]}"
        assert webhooks.lost == 0 and webhooks.duplicated == 0, webhooks.problems[:10]
        assert webhooks.counts["ok"] >= (IMAGES + VIDEOS) // 4, webhooks.counts
        assert not any(wrong_batches.values()), wrong_batches
        assert batch_hooks.counts["ok"] == len(run.batches), batch_hooks.problems
        assert not replicas_at_start and not replicas_at_end, (replicas_at_start, replicas_at_end)
        assert not poison_missing, f"poison messages not dead-lettered: {poison_missing}"
        assert not dead, system.report(f"processes died: {dead}")
        for q in WORK_QUEUES:
            assert queues[q][1] >= 1, f"{q} has no consumer after the run: {queues}"
        # Only poison may be dead-lettered in the projection and the notifier: a valid event
        # there would be an effect lost.
        assert unexpected_dead_letters["gateway.projection.dlq"] == 0, dlqs
        assert unexpected_dead_letters["notifier.outcomes.dlq"] == 0, dlqs
        # A request dead-lettered from a model's queue was released again (or its job failed)
        # at once: the releaser's copy of every per-model DLQ is drained.
        per_model = [q for q in dlqs if q.startswith("generator.requests.")]
        assert per_model, f"no per-model dead-letter queue found: {sorted(queues)}"
        pending = {f"{q}.release": queues.get(f"{q}.release", (0, 0))[0] for q in per_model}
        assert not any(pending.values()), f"dead letters not released again: {pending}"
        # Bounded failure: the jobs of a model that cannot load end FAILED at once (no retry
        # per attempt) with the loader's reason, whatever the faults did around them.
        for row in broken_rows:
            assert row["status"] == "FAILED", row
            assert row["error_code"] == "model_unavailable", row
            assert "cannot be loaded" in row["error"], row
        assert verdict.statuses["COMPLETED"] == len(run.accepted) - BROKEN, verdict.statuses
        # the schedule ran in full: nothing was spared
        for name in (*GENERATORS, *PROCESSES, "gateway-api", "gateway-relay"):
            kind = "mid-batch" if name in GENERATORS else ""
            assert system.faults[f"SIGKILL {name} {kind}".strip()] >= 2, system.faults
        assert system.faults["broker node SIGKILL (its beam VM)"] >= 1
        assert system.faults["queues led by the killed node"] >= 1
        assert system.faults["network partition (1 node from 2)"] >= 1
        assert system.faults["SIGKILL a projector replica mid-batch"] >= 2
    finally:
        codes = await system.stop()
        await hooks.aclose()
        for proxy in [*system.all_broker_proxies, *db_proxies.values()]:
            await proxy.stop()
        print(f"[faults] exit codes on SIGTERM: {codes}")
    bad = {name: code for name, code in codes.items() if code != 0}
    assert not bad, f"processes did not exit 0 on SIGTERM: {bad}"


async def answer(run: Run, user: str, method: str, path: str, ok: int = 200, **kw) -> dict:
    """The body of ``user``'s request once it answers ``ok``; retried like a submit (the
    api's pooled database connections may have just been cut: the first use of one answers
    503)."""

    async def fetch() -> dict | None:
        try:
            async with run.system.client(user) as client:
                r = await client.request(method, path, **kw)
        except httpx.HTTPError:
            return None
        return r.json() if r.status_code == ok else None

    return await run.until(f"{user}: {method} {path}", fetch, 60)


async def signing_secret(run: Run, user: str) -> str:
    """The user's webhook secret (each job's ``webhook_url`` is signed with it)."""
    return (await answer(run, user, "GET", "/api/webhooks/secret"))["secret"]


async def batch_endpoint_secret(run: Run, path: str) -> str:
    """A standing endpoint of the batch user for ``batch.completed`` only, at the receiver's
    ``path``; its secret. (Created before any fault: no answer lost, no second endpoint.)"""
    url = f"{run.receiver.url}{path}"  # type: ignore[union-attr]
    body = {"url": url, "events": [BATCH_COMPLETED]}
    created = await answer(run, run.batch_user, "POST", "/api/webhooks/endpoints", 201, json=body)
    return created["secret"]


async def read_batch(run: Run, batch_id: str) -> dict:
    """``GET /api/batches/{id}`` with every page's jobs in ``jobs``."""
    jobs: list[dict] = []
    cursor = None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        view = await answer(
            run, run.batches[batch_id], "GET", f"/api/batches/{batch_id}", params=params
        )
        jobs += view["jobs"]
        cursor = view["next_cursor"]
        if not cursor:
            return {**view, "jobs": jobs}
