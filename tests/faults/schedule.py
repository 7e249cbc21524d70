"""The fault schedule of the cluster run: the load and the faults, in rounds.

The load: single jobs from several users (images and videos, a third asking for a webhook),
and, while they are being submitted, one user's batch (``POST /api/batches``: 40 images at
the scheduler's ``batch`` tier, released after every interactive job; its ``batch.completed``
goes to a standing endpoint of that user). The scheduler itself runs in every relay, so it is
SIGKILLed with it.

One round spares nothing:

- every process SIGKILLed twice and restarted: gateway api, relay (and so the scheduler),
  both projector replicas (each once while it applies batches of deliveries), watchdog,
  webhook deliverer, notifier (two replicas on one queue, each killed at both points), and
  each generator in the middle of a batch: generator-0 (the image models) while it renders
  images, generator-1 (the video model) while it renders videos; api + relay once with
  outbox rows unpublished, the relay unable to reach any broker node;
- the broker node leading the most queues SIGKILLed (its Erlang VM), brought back 30 s later,
  while more processes are killed;
- one node (again the busiest leader) partitioned from the other two for 20 s;
- broker connections slowed and cut, the databases taken away (gateway 5 s, notifier 20 s)
  and cut, duplicated / late events injected.

The short run (``make test``) is one round; a longer run keeps going round after round while
jobs are still being submitted.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from datetime import datetime

import asyncpg
import httpx

from .checker import _dsn
from .harness import Accepted, FaultSystem, FlakyReceiver, expected_files, job_body, wants_webhook
from .injector import Injector
from .rabbit_cluster import RabbitCluster

NODE_DOWN_S = 30.0
PARTITION_S = 20.0
GENERATORS = ("generator-0", "generator-1")  # images (and the broken model), videos
FEEDS = {"generator-0": ("image", "tiny-image"), "generator-1": ("video", "tiny-video")}
FEED_CHECK_S = 5.0  # how often a wait for a batch start looks whether it must feed one
BATCH_KIND = "image"  # a batch is of one kind
BATCH_AFTER_S = 15.0  # into the burst: among the single jobs, while faults are going on
PROJECTORS = ("gateway-projector-0", "gateway-projector-1")  # two replicas on one queue
NOTIFIERS = ("notifier-0", "notifier-1")  # two replicas on one queue
PROCESSES = (*PROJECTORS, "gateway-watchdog", "gateway-webhooks", *NOTIFIERS)


class Run:
    def __init__(self, system: FaultSystem, cluster: RabbitCluster, users: list[str]) -> None:
        self.system = system
        self.cluster = cluster
        self.users = users
        self.accepted: list[Accepted] = []
        self.submit_errors = 0
        self.replayed = 0  # retries the gateway answered with the job it had (Idempotency-Key)
        self.submitting = True
        self.rounds = 0
        self.batch_sizes_killed: list[int] = []
        self.receiver: FlakyReceiver | None = None  # webhooks of every third job go there
        self.batches: dict[str, str] = {}  # batch id -> its user
        self.fed: Counter[str] = Counter()  # jobs sent to give a generator's kill a batch

    @property
    def batch_user(self) -> str:
        return self.users[0]

    # ---- load ----------------------------------------------------------------------------

    async def submit_all(self, images: int, videos: int, broken: int, batch: int) -> None:
        plan = [("image", i, False) for i in range(images)] + [
            ("video", i, False) for i in range(videos)
        ]
        random.Random(5).shuffle(plan)
        plan[len(plan) // 3 : len(plan) // 3] = [("image", 10_000 + i, True) for i in range(broken)]
        per_user = [plan[i :: len(self.users)] for i in range(len(self.users))]
        try:
            await asyncio.gather(
                *(self._submit(u, jobs) for u, jobs in zip(self.users, per_user, strict=True)),
                self._submit_batch(self.batch_user, batch),
            )
        finally:
            self.submitting = False

    async def _submit(self, user: str, jobs: list[tuple[str, int, bool]]) -> None:
        async with self.system.client(user) as client:
            for kind, i, broken in jobs:
                body = job_body(kind, i, broken=broken)
                if self.receiver is not None and wants_webhook(i):
                    body["webhook_url"] = f"{self.receiver.url}/faults/{user}"
                # one key per job, as a careful client sends: a retry after an answer lost to
                # a fault gets the same job back, never a second one
                key = f"faults-{user}-{kind}-{i}"
                answer = await self._post(client, f"/api/{kind}s/generate", body, key)
                job_id = answer["job_id"]
                files = expected_files(kind, body)
                webhook = "webhook_url" in body
                self.accepted.append(Accepted(job_id, kind, user, files, broken, webhook))
                await asyncio.sleep(0.9)

    async def _submit_batch(self, user: str, size: int) -> None:
        """One batch of ``size`` jobs, ``BATCH_AFTER_S`` into the burst (a retry after an
        answer lost would make a second batch, outside the run's: not counted)."""
        if not size:
            return
        await asyncio.sleep(BATCH_AFTER_S)
        items = [job_body(BATCH_KIND, 20_000 + i) for i in range(size)]
        async with self.system.client(user) as client:
            created = await self._post(
                client, "/api/batches", {"kind": BATCH_KIND, "requests": items}
            )
        batch_id = created["batch_id"]
        self.batches[batch_id] = user
        for job_id, item in zip(created["job_ids"], items, strict=True):
            files = expected_files(BATCH_KIND, item)
            self.accepted.append(Accepted(job_id, BATCH_KIND, user, files, batch=batch_id))

    async def _post(
        self, client: httpx.AsyncClient, path: str, body: dict, key: str | None = None
    ) -> dict:
        """POST until the gateway answers 202 (within 120 s); the answer's body. ``key``: the
        request's Idempotency-Key."""
        deadline = time.monotonic() + 120
        headers = {"Idempotency-Key": key} if key else {}
        while True:
            try:
                r = await client.post(path, json=body, headers=headers)
            except httpx.HTTPError:
                r = None
            if r is not None and r.status_code == 202:
                self.replayed += r.headers.get("Idempotent-Replayed") == "true"
                return r.json()
            # no 2xx (gateway restarting, not ready): the client retries
            self.submit_errors += 1
            assert time.monotonic() < deadline, f"gateway refused {path} for 120s: {r}"
            await asyncio.sleep(0.5)

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
            if time.monotonic() >= deadline:
                summary = f"timed out: {what}\n{await self.diagnosis()}"
                # CI shows an output's tail: the summary ends the report as well
                raise AssertionError(f"{self.system.report(summary)}\n{summary}")
            await asyncio.sleep(every)

    async def diagnosis(self) -> str:
        """A few lines on where the run stands: jobs by status, the work queues' depth and
        consumers, each process's last log event and its age."""
        lines = []
        try:
            rows = await self.gateway_sql(
                "SELECT status, count(*) AS n FROM generations GROUP BY status"
            )
            jobs = ", ".join(f"{r['status']} {r['n']}" for r in rows)
        except Exception as exc:  # noqa: BLE001 - a diagnosis never hides the failure
            jobs = f"unknown ({exc!r})"
        lines.append(f"jobs: {jobs}; {'still submitting' if self.submitting else 'all submitted'}")
        try:
            queues = await asyncio.to_thread(self.cluster.queues)
            work = {q: v for q, v in sorted(queues.items()) if not q.endswith(".dlq")}
            lines.append(
                "queues (messages/consumers): "
                + ", ".join(f"{q} {m}/{c}" for q, (m, c) in work.items())
            )
        except Exception as exc:  # noqa: BLE001
            lines.append(f"queues unknown ({exc!r})")
        now = time.time()
        for proc in self.system.procs:
            last = _last_event(proc.log_path)
            age = f"{now - last[0]:.0f} s ago" if last else "never"
            event = last[1] if last else "-"
            lines.append(f"  {proc.name} alive={proc.alive()} last log {age}: {event}")
        return "\n".join(lines)

    async def batch_started(self, name: str, within_s: float = 180) -> int:
        """Wait for ``name`` to put a new batch on the device (batch-mates preferred for the
        first 20 s); returns its size. Killing then lands in the middle of that batch. When
        the load is all in and none of the generator's jobs is left waiting (a fast machine
        got through it before the schedule came this far), one more job of its kind is sent,
        accepted and checked as every other: a kill always has a batch to land in."""
        log = self.system.proc(name).log_path
        offset = log.stat().st_size
        since = checked = time.monotonic()
        fed_before = self.fed[name]

        async def started() -> int:
            nonlocal checked
            text = await asyncio.to_thread(_read_from, log, offset)
            sizes = [
                json.loads(line).get("batch_size", 1)
                for line in text.splitlines()
                if '"batch started"' in line and line.startswith("{")
            ]
            fed = self.fed[name] > fed_before  # no batch-mates to wait for
            wanted = 2 if time.monotonic() - since < 20 and not fed else 1
            size = next((n for n in sizes if n >= wanted), 0)
            if not size and time.monotonic() - checked >= FEED_CHECK_S:
                checked = time.monotonic()
                await self._feed(name)
            return size

        return await self.until(f"{name} starts a batch", started, within_s, every=0.1)

    async def _feed(self, name: str) -> None:
        """One more job for ``name`` if the load is all in and none of its jobs waits."""
        kind, model = FEEDS[name]
        if self.submitting:
            return
        waiting = await self.gateway_sql(
            "SELECT count(*) AS n FROM generations"
            f" WHERE status = 'PENDING' AND params->>'model' = '{model}'"
        )
        if waiting[0]["n"]:
            return
        self.fed[name] += 1
        n = self.fed[name]
        job = (kind, 30_000 + 1_000 * GENERATORS.index(name) + n, False)
        await self._submit(self.users[n % len(self.users)], [job])

    # ---- faults --------------------------------------------------------------------------

    async def kill_generator(self, name: str) -> None:
        size = await self.batch_started(name)
        await self.system.restart(name)
        self.batch_sizes_killed.append(size)
        self.system.faults[f"SIGKILL {name} mid-batch"] += 1

    async def kill_projector_mid_batch(self, name: str, within_s: float = 120) -> None:
        """SIGKILL a projector replica right after it applied a batch of several deliveries
        (one at a time after the first 10 s), so that the kill lands while it applies the
        next: its uncommitted batch goes back to the queue, the other replica takes it."""
        log = self.system.proc(name).log_path
        offset = log.stat().st_size
        since = time.monotonic()

        async def batching() -> bool:
            text = await asyncio.to_thread(_read_from, log, offset)
            sizes = [
                json.loads(line).get("batch", 0)
                for line in text.splitlines()
                if '"event projected"' in line and line.startswith("{")
            ]
            wanted = 2 if time.monotonic() - since < 10 else 1
            return max(sizes, default=0) >= wanted

        await self.until(f"{name} applies a batch", batching, within_s, every=0.05)
        await self.kill(name)
        self.system.faults["SIGKILL a projector replica mid-batch"] += 1

    async def kill(self, name: str, down_s: float = 0.5) -> None:
        await self.system.kill(name)
        await asyncio.sleep(down_s)
        self.system.proc(name).start()
        self.system.faults[f"SIGKILL {name}"] += 1

    async def cut_brokers(self) -> None:
        for proxy in self.system.all_broker_proxies:
            if proxy.cut():
                self.system.faults["broker connection cut"] += 1

    async def slow_brokers(self, seconds: float) -> None:
        proxies = self.system.all_broker_proxies
        await asyncio.gather(*(p.slow(seconds, 0.05) for p in proxies))
        self.system.faults["broker connection slowed (50 ms/chunk)"] += len(proxies)

    async def db_outage(self, gateway_s: float, notifier_s: float) -> None:
        """The notifier's outage outlasts the ~15 s of requeue backoff its delivery limit
        allows: only riding it out in place keeps its events out of the dead-letter queue."""
        await asyncio.gather(
            self.system.db_proxies["gateway"].outage(gateway_s),
            self.system.db_proxies["notifier"].outage(notifier_s),
        )
        self.system.faults[f"database outage (cut + refused), gateway {gateway_s:g} s"] += 1
        self.system.faults[f"database outage (cut + refused), notifier {notifier_s:g} s"] += 1

    async def cut_databases(self) -> None:
        for proxy in self.system.db_proxies.values():
            if proxy.cut():
                self.system.faults["database connection cut"] += 1

    async def broker_node_down(self, during) -> None:
        """SIGKILL the VM of the node leading the most queues; ``during`` runs while it is
        down; the node is started again ``NODE_DOWN_S`` after the kill."""
        node, led = await asyncio.to_thread(self.cluster.busiest_leader)
        await asyncio.to_thread(self.cluster.kill, node)
        killed = time.monotonic()
        self.system.faults["broker node SIGKILL (its beam VM)"] += 1
        self.system.faults["queues led by the killed node"] += led
        await during()
        await asyncio.sleep(max(0.0, NODE_DOWN_S - (time.monotonic() - killed)))
        took = await asyncio.to_thread(self.cluster.revive, node)
        print(f"[faults] {node.name} (led {led}) killed, back after 30 s, rejoined in {took:.1f}s")

    async def partition(self, during) -> None:
        node, _ = await asyncio.to_thread(self.cluster.busiest_leader)
        await asyncio.to_thread(self.cluster.partition, node)
        started = time.monotonic()
        self.system.faults["network partition (1 node from 2)"] += 1
        await during()
        await asyncio.sleep(max(0.0, PARTITION_S - (time.monotonic() - started)))
        await asyncio.to_thread(self.cluster.heal, node)
        print(f"[faults] {node.name} partitioned for {time.monotonic() - started:.0f}s, healed")

    async def gateway_restart_with_rows_in_flight(self) -> None:
        """The relay cannot reach any broker node, so accepted requests pile up (in the outbox,
        and in the scheduler's queue once the generators' slots are taken);
        the api and relay are SIGKILLed and restarted with rows unpublished. (Once nothing is
        submitted any more, a later round kills them without rows waiting.)"""
        if not self.submitting:
            await self.kill("gateway-relay")
            await self.kill("gateway-api")
            return
        proxies = self.system.broker_proxies["gateway"]
        outage = asyncio.gather(*(p.outage(10) for p in proxies))

        async def rows_waiting() -> int:
            # waiting for the broker (outbox) or for their turn (the scheduler's queue)
            rows = await self.gateway_sql(
                "SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL)"
                " + (SELECT count(*) FROM generation_queue) AS n"
            )
            return rows[0]["n"]

        waiting = await self.until("outbox rows waiting", rows_waiting, 30, every=0.2)
        await self.system.kill("gateway-relay")
        await self.system.kill("gateway-api")
        self.system.proc("gateway-relay").start()
        self.system.proc("gateway-api").start()
        await outage
        self.system.faults["SIGKILL gateway-api"] += 1
        self.system.faults["SIGKILL gateway-relay"] += 1
        self.system.faults["outbox rows in flight at an api+relay SIGKILL"] += waiting

    async def inject_duplicates(self, injector: Injector, how_many: int) -> None:
        async def completed() -> list:
            return await self.gateway_sql(
                "SELECT g.id, g.user_id, g.kind, g.params, json_agg(f ORDER BY f.index) AS files"
                " FROM generations g JOIN generation_files f ON f.generation_id = g.id"
                " WHERE g.status = 'COMPLETED' GROUP BY g.id ORDER BY random() LIMIT 50"
            )

        rows = await self.until("some jobs completed", completed, 180)
        for row in rows[:how_many]:
            await injector.duplicates_for(completed_job(row))

    # ---- the schedule --------------------------------------------------------------------

    async def chaos(self, injector: Injector) -> None:
        await self.batch_started("generator-0")
        while True:
            await self.round(injector)
            self.rounds += 1
            if not self.submitting:
                return

    async def round(self, injector: Injector) -> None:
        await self.slow_brokers(4)
        await self.kill_generator("generator-0")
        await self.kill_projector_mid_batch("gateway-projector-0")
        await self.cut_brokers()
        await self.db_outage(5, 20)
        # the other replica's mid-batch kill comes early too, while jobs are still being
        # submitted: at the end of the round the load may have settled, nothing left to apply
        await self.kill_projector_mid_batch("gateway-projector-1")
        await self.inject_duplicates(injector, 10)
        await self.gateway_restart_with_rows_in_flight()
        for notifier in NOTIFIERS:
            await self.kill(notifier)
        await self.kill("gateway-watchdog")
        await self.kill("gateway-webhooks")
        await self.kill_generator("generator-1")

        async def while_node_down() -> None:
            await self.kill_generator("generator-0")
            await self.kill("gateway-projector-1", down_s=2)
            await self.cut_databases()
            for notifier in reversed(NOTIFIERS):
                await self.kill(notifier)

        await self.broker_node_down(while_node_down)

        async def while_partitioned() -> None:
            await self.kill("gateway-api")
            await self.kill("gateway-relay")
            await self.kill_generator("generator-1")
            await self.kill("gateway-watchdog")

        await self.partition(while_partitioned)
        await self.cut_brokers()
        await self.slow_brokers(3)
        await self.cut_databases()
        await self.kill("gateway-webhooks")
        await self.kill("gateway-projector-1")
        await self.kill("gateway-projector-0")
        await self.inject_duplicates(injector, 10)


def _last_event(path) -> tuple[float, str] | None:
    """The last JSON log line's time (epoch s) and ``event`` (first 100 characters)."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - 65536))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
            at = datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).timestamp()
        except (ValueError, KeyError, AttributeError):
            continue
        return at, str(entry.get("event", ""))[:100]
    return None


def _read_from(path, offset: int) -> str:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


FILE_FIELDS = (
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


def completed_job(row) -> dict:
    """A COMPLETED row (with its files) as the injector's job."""
    params = json.loads(row["params"]) if isinstance(row["params"], str) else row["params"]
    files = json.loads(row["files"]) if isinstance(row["files"], str) else row["files"]
    return {
        "job_id": str(row["id"]),
        "user": row["user_id"],
        "kind": row["kind"],
        "model": params["model"],
        "seed": params["seed"],
        "files": [{k: f[k] for k in FILE_FIELDS} for f in files],
    }
