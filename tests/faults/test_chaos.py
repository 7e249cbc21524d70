"""The fault-injection run: >= 200 image and video jobs from several users while processes are
SIGKILLed and restarted, broker and database connections are cut and slowed, the broker is
restarted for real, and duplicated, late and poison events are injected. Then every accepted
job is classified lost / duplicated / ok, and the run fails unless lost = duplicated = 0, every
poison message sits in a dead-letter queue, and every consumer is still running. A third of
the jobs ask for a webhook: each one's terminal event must reach the receiver, signed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
from pathlib import Path

import aio_pika
import asyncpg
import httpx

from tests.support.chaos_proxy import ChaosProxy
from tests.support.webhooks import receiving

from .checker import TERMINAL, Verdict, _dsn, classify, classify_webhooks, snapshot
from .harness import (
    BROKEN_MODEL,
    BROKEN_MODEL_SPEC,
    WEBHOOK_SETTINGS,
    Accepted,
    FaultSystem,
    FlakyReceiver,
    expected_files,
    job_body,
    wants_webhook,
)
from .injector import Injector
from .rabbit_node import PrivateRabbitNode

USERS = [f"user{i}" for i in range(5)]
IMAGES = int(os.environ.get("SORAMI_FAULTS_IMAGES", "150"))
VIDEOS = int(os.environ.get("SORAMI_FAULTS_VIDEOS", "50"))
BROKEN = 3
SETTLE_S = float(os.environ.get("SORAMI_FAULTS_SETTLE_S", "480"))
WORK_QUEUES = ("generator.requests", "gateway.projection", "notifier.outcomes")


class Run:
    def __init__(self, system: FaultSystem, node: PrivateRabbitNode) -> None:
        self.system = system
        self.node = node
        self.accepted: list[Accepted] = []
        self.submit_errors = 0
        self.submitting = True
        self.generator_starts = 1
        self.receiver: FlakyReceiver | None = None  # webhooks of every third job go there

    # ---- load ----------------------------------------------------------------------------

    async def submit_all(self) -> None:
        plan = [("image", i, False) for i in range(IMAGES)] + [
            ("video", i, False) for i in range(VIDEOS)
        ]
        random.Random(5).shuffle(plan)
        plan[len(plan) // 3 : len(plan) // 3] = [("image", 10_000 + i, True) for i in range(BROKEN)]
        per_user = [plan[i :: len(USERS)] for i in range(len(USERS))]
        await asyncio.gather(
            *(self._submit(u, jobs) for u, jobs in zip(USERS, per_user, strict=True))
        )
        self.submitting = False

    async def _submit(self, user: str, jobs: list[tuple[str, int, bool]]) -> None:
        async with self.system.client(user) as client:
            for kind, i, broken in jobs:
                body = job_body(kind, i, broken=broken)
                if self.receiver is not None and wants_webhook(i):
                    body["webhook_url"] = f"{self.receiver.url}/faults/{user}"
                deadline = time.monotonic() + 120
                while True:
                    try:
                        r = await client.post(f"/api/{kind}s/generate", json=body)
                    except httpx.HTTPError:
                        r = None
                    if r is not None and r.status_code == 202:
                        self.accepted.append(
                            Accepted(
                                r.json()["job_id"],
                                kind,
                                user,
                                expected_files(kind, body),
                                broken,
                                webhook="webhook_url" in body,
                            )
                        )
                        break
                    # no 2xx (gateway restarting, not ready): the client retries
                    self.submit_errors += 1
                    assert time.monotonic() < deadline, f"gateway refused {kind} for 120s: {r}"
                    await asyncio.sleep(0.5)
                await asyncio.sleep(0.9)

    # ---- observation ---------------------------------------------------------------------

    async def gateway_sql(self, sql: str) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(_dsn(self.system.database_urls["gateway"]))
        try:
            return await conn.fetch(sql)
        finally:
            await conn.close()

    async def until(self, what: str, check, within_s: float, every: float = 0.5):
        deadline = time.monotonic() + within_s
        while True:
            value = await check()
            if value:
                return value
            assert time.monotonic() < deadline, self.system.report(f"timed out: {what}")
            await asyncio.sleep(every)

    async def generator_mid_job(self) -> None:
        """The current generator process consumes and has finished a job since it started:
        with a backlog, it is now in the middle of the next one."""
        log = self.system.proc("generator-0").log_path

        async def busy() -> bool:
            text = log.read_text(errors="replace")
            runs = text.split('"generator consuming"')
            return len(runs) - 1 >= self.generator_starts and '"job completed"' in runs[-1]

        await self.until("generator mid-job", busy, 120)

    # ---- faults --------------------------------------------------------------------------

    async def kill_generator(self) -> None:
        await self.generator_mid_job()
        await self.system.restart("generator-0")
        self.generator_starts += 1
        self.system.faults["generator SIGKILL mid-job"] += 1

    async def signing_secret(self, user: str) -> str:
        """The user's webhook secret; retried like a submit (the api's pooled database
        connections may have just been cut: the first use of one answers 503)."""

        async def fetch() -> str | None:
            try:
                async with self.system.client(user) as client:
                    r = await client.get("/api/webhooks/secret")
            except httpx.HTTPError:
                return None
            return r.json()["secret"] if r.status_code == 200 else None

        return await self.until(f"{user}'s webhook secret", fetch, 60)

    async def kill_deliverer(self) -> None:
        await self.system.restart("gateway-webhooks")
        self.system.faults["webhook deliverer SIGKILL and restart"] += 1

    def webhooks_settled(self, gens: dict) -> bool:
        acked = {
            (json.loads(r.body)["data"]["job_id"], json.loads(r.body)["type"])
            for r in self.receiver.received  # type: ignore[union-attr]
            if 200 <= r.status < 300
        }
        return all(
            (a.job_id, f"generation.{gens[a.job_id]['status'].lower()}") in acked
            for a in self.accepted
            if a.webhook
        )

    async def cut_brokers(self) -> None:
        for proxy in self.system.broker_proxies.values():
            if proxy.cut():
                self.system.faults["broker connection cut"] += 1

    async def slow_brokers(self, seconds: float) -> None:
        await asyncio.gather(*(p.slow(seconds, 0.05) for p in self.system.broker_proxies.values()))
        self.system.faults["broker connection slowed (50 ms/chunk)"] += len(
            self.system.broker_proxies
        )

    async def db_outage(self, gateway_s: float, notifier_s: float) -> None:
        """The notifier's outage outlasts the ~15 s of requeue backoff its delivery limit
        allows: only riding it out in place keeps its events out of the dead-letter queue."""
        await asyncio.gather(
            self.system.db_proxies["gateway"].outage(gateway_s),
            self.system.db_proxies["notifier"].outage(notifier_s),
        )
        self.system.faults["database outage (cut + refused), gateway 5 s"] += 1
        self.system.faults["database outage (cut + refused), notifier 20 s"] += 1

    async def cut_databases(self) -> None:
        for proxy in self.system.db_proxies.values():
            if proxy.cut():
                self.system.faults["database connection cut"] += 1

    async def broker_restart(self) -> None:
        took = await asyncio.to_thread(self.node.restart_app, 2.0)
        self.system.faults["broker restart (stop_app/start_app)"] += 1
        print(f"[faults] broker restarted in {took:.1f}s")

    async def gateway_restart_with_rows_in_flight(self) -> None:
        """The relay cannot reach the broker, so accepted requests pile up in the outbox; the
        api and relay are SIGKILLed and restarted with rows unpublished."""
        proxy = self.system.broker_proxies["gateway"]
        outage = asyncio.create_task(proxy.outage(10))

        async def rows_waiting() -> int:
            rows = await self.gateway_sql(
                "SELECT count(*) AS n FROM outbox WHERE published_at IS NULL"
            )
            return rows[0]["n"]

        waiting = await self.until("outbox rows waiting", rows_waiting, 30, every=0.2)
        await self.system.kill("gateway-relay")
        await self.system.kill("gateway-api")
        self.system.proc("gateway-relay").start()
        self.system.proc("gateway-api").start()
        await outage
        self.system.faults["gateway api+relay SIGKILL and restart, rows in flight"] += 1
        self.system.faults["outbox rows in flight at the restart"] += waiting

    async def inject_duplicates(self, injector: Injector, how_many: int) -> None:
        async def completed() -> list:
            return await self.gateway_sql(
                "SELECT g.id, g.user_id, g.kind, g.params, json_agg(f ORDER BY f.index) AS files"
                " FROM generations g JOIN generation_files f ON f.generation_id = g.id"
                " WHERE g.status = 'COMPLETED' GROUP BY g.id LIMIT 50"
            )

        rows = await self.until("some jobs completed", completed, 180)
        for row in rows[:how_many]:
            params = json.loads(row["params"]) if isinstance(row["params"], str) else row["params"]
            files = json.loads(row["files"]) if isinstance(row["files"], str) else row["files"]
            keep = (
                "index",
                "key",
                "mime_type",
                "bytes",
                "width",
                "height",
                "fps",
                "frame_count",
                "duration_s",
                "poster_key",
            )
            await injector.duplicates_for(
                {
                    "job_id": str(row["id"]),
                    "user": row["user_id"],
                    "kind": row["kind"],
                    "model": params["model"],
                    "seed": params["seed"],
                    "files": [{k: f[k] for k in keep} for f in files],
                }
            )

    async def chaos(self, injector: Injector) -> None:
        await self.generator_mid_job()
        await self.slow_brokers(4)
        await self.kill_generator()
        await asyncio.sleep(3)
        await self.cut_brokers()
        await asyncio.sleep(3)
        await self.db_outage(5, 20)
        await self.inject_duplicates(injector, 10)
        await asyncio.sleep(2)
        await self.gateway_restart_with_rows_in_flight()
        await self.kill_deliverer()
        await self.kill_generator()
        await self.broker_restart()
        await asyncio.sleep(5)
        await self.cut_databases()
        await self.kill_generator()
        await asyncio.sleep(3)
        await self.cut_brokers()
        await self.slow_brokers(3)
        await self.cut_databases()
        await self.inject_duplicates(injector, 10)
        await self.kill_generator()

    # ---- the end -------------------------------------------------------------------------

    async def settle(self, within_s: float) -> None:
        """Every accepted job terminal, its notifications in, the work queues empty."""
        ids = {a.job_id for a in self.accepted}
        snap_args = (self.system.database_urls["gateway"], self.system.database_urls["notifier"])

        async def settled() -> bool:
            snap = await snapshot(*snap_args)
            gens = snap["generations"]
            if any(gens.get(i, {}).get("status") not in TERMINAL for i in ids):
                return False
            for i in ids:
                outcome = gens[i]["status"].lower()
                if not snap["notes"].get((i, outcome)) or not snap["gw_notes"].get((i, outcome)):
                    return False
            if not self.webhooks_settled(gens):
                return False
            queues = await asyncio.to_thread(self.node.queues)
            return all(queues.get(q, (1, 0))[0] == 0 for q in WORK_QUEUES)

        deadline = time.monotonic() + within_s
        while not await settled():
            if time.monotonic() > deadline:
                return  # the checker says what is missing
            await asyncio.sleep(2)

    async def dead_letters(self) -> dict[str, list[str]]:
        """message ids in each dead-letter queue (read without removing them)."""
        found: dict[str, list[str]] = {}
        connection = await aio_pika.connect(self.node.amqp_url)
        try:
            channel = await connection.channel()
            for queue_name in (f"{q}.dlq" for q in WORK_QUEUES):
                queue = await channel.declare_queue(queue_name, passive=True)
                ids = []
                while (message := await queue.get(no_ack=False, fail=False)) is not None:
                    ids.append(message.message_id or "")
                found[queue_name] = ids
        finally:
            await connection.close()  # unacknowledged: they stay in their queues
        return found


async def test_nothing_is_lost_or_doubled_under_faults(make_database, rabbit_node, tmp_path):
    started = time.monotonic()
    broker_proxies = {
        s: ChaosProxy(f"broker-{s}", "127.0.0.1", rabbit_node.port)
        for s in ("gateway", "generator", "notifier")
    }
    db_proxies = {s: ChaosProxy(f"db-{s}", "127.0.0.1", 5432) for s in ("gateway", "notifier")}
    for proxy in [*broker_proxies.values(), *db_proxies.values()]:
        await proxy.start()
    media = tmp_path / "media"
    system = FaultSystem(
        base_dir=tmp_path / "system",
        database_urls={
            "gateway": await make_database("faults_gateway"),
            "notifier": await make_database("faults_notifier"),
        },
        amqp_url=rabbit_node.amqp_url,
        storage_env={"STORAGE_BACKEND": "local", "STORAGE_LOCAL_DIR": str(media)},
        model_cache_dir=Path(os.environ.get("SORAMI_FAULTS_MODEL_CACHE", tmp_path / "models")),
        image_models=["tiny-image", BROKEN_MODEL],
        broker_proxies=broker_proxies,
        db_proxies=db_proxies,
        gateway_overrides={
            "WATCHDOG_INTERVAL_S": "2",
            "WATCHDOG_PROCESSING_LEASE_S": "45",
            "WATCHDOG_PENDING_LEASE_S": "900",
            "RATE_LIMIT_GENERATIONS": "100000",
            "MAX_UNFINISHED_JOBS": "100000",
            "MODELS": json.dumps({BROKEN_MODEL: BROKEN_MODEL_SPEC}),
            **WEBHOOK_SETTINGS,
        },
        generator_overrides={"MODELS": json.dumps({BROKEN_MODEL: BROKEN_MODEL_SPEC})},
    )
    run = Run(system, rabbit_node)
    injector = Injector(rabbit_node.amqp_url)
    verdict: Verdict | None = None
    hooks = contextlib.AsyncExitStack()
    try:
        run.receiver = await hooks.enter_async_context(receiving(FlakyReceiver()))
        await system.start(within_s=180)
        print(f"[faults] system up in {time.monotonic() - started:.1f}s")
        run.receiver.secrets = {user: await run.signing_secret(user) for user in USERS}
        await injector.poison()
        burst_started = time.monotonic()
        submit = asyncio.create_task(run.submit_all())
        await run.chaos(injector)
        await submit
        await injector.poison()  # once more, after every restart
        await run.settle(SETTLE_S)
        burst_s = time.monotonic() - burst_started

        snap = await snapshot(system.database_urls["gateway"], system.database_urls["notifier"])
        verdict = classify(run.accepted, snap, media)
        webhooks = classify_webhooks(run.accepted, snap, run.receiver.received)
        dlqs = await run.dead_letters()
        queues = await asyncio.to_thread(rabbit_node.queues)
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
        broken = [a for a in run.accepted if a.broken]
        broken_rows = [snap["generations"][a.job_id] for a in broken]
        figures = {
            "jobs_accepted": len(run.accepted),
            "images": sum(a.kind == "image" for a in run.accepted),
            "videos": sum(a.kind == "video" for a in run.accepted),
            "users": len(USERS),
            "verdict": dict(verdict.counts),
            "webhook_verdict": {**webhooks.counts, **webhooks.statuses},
            "statuses": dict(verdict.statuses),
            "faults": dict(system.faults),
            "events_injected": injector.sent,
            "submit_retries_without_2xx": run.submit_errors,
            "dead_letters_unexpected": unexpected_dead_letters,
            "watchdog_requeues": sum(
                snap["generations"][a.job_id]["watchdog_requeues"] for a in run.accepted
            ),
            "in_place_outage_retries": system.log_count("", "retrying in place"),
            "burst_to_settled_s": round(burst_s, 1),
            "total_s": round(time.monotonic() - started, 1),
        }
        print("[faults] figures:", json.dumps(figures, indent=2))
        out = os.environ.get("SORAMI_FAULTS_REPORT")
        if out:
            await asyncio.to_thread(Path(out).write_text, json.dumps(figures, indent=2) + "\n")
        for problem in (verdict.problems + webhooks.problems)[:30]:
            print("[faults]", problem)

        assert len(run.accepted) >= 200
        assert verdict.lost == 0 and verdict.duplicated == 0, system.report(
            f"lost={verdict.lost} duplicated={verdict.duplicated}: {verdict.problems[:10]}"
        )
        assert webhooks.lost == 0 and webhooks.duplicated == 0, webhooks.problems[:10]
        assert webhooks.counts["ok"] >= 60, webhooks.counts
        assert not poison_missing, f"poison messages not dead-lettered: {poison_missing}"
        assert not dead, system.report(f"processes died: {dead}")
        for q in WORK_QUEUES:
            assert queues[q][1] >= 1, f"{q} has no consumer after the run: {queues}"
        # Only poison may be dead-lettered in the projection and the notifier: a valid event
        # there would be an effect lost.
        assert unexpected_dead_letters["gateway.projection.dlq"] == 0, dlqs
        assert unexpected_dead_letters["notifier.outcomes.dlq"] == 0, dlqs
        # Bounded failure: the always-failing jobs end FAILED with a readable reason.
        for row in broken_rows:
            assert row["status"] == "FAILED", row
            assert row["error_code"] == "internal", row
            assert "generation failed after 6 attempts" in row["error"], row
        assert all(
            s == "COMPLETED"
            for a, s in (
                (a, snap["generations"][a.job_id]["status"]) for a in run.accepted if not a.broken
            )
        ), verdict.statuses
        assert system.faults["generator SIGKILL mid-job"] >= 3
    finally:
        codes = await system.stop()
        await hooks.aclose()
        for proxy in [*broker_proxies.values(), *db_proxies.values()]:
            await proxy.stop()
        print(f"[faults] exit codes on SIGTERM: {codes}")
    bad = {name: code for name, code in codes.items() if code != 0}
    assert not bad, f"processes did not exit 0 on SIGTERM: {bad}"
