"""The whole system as processes, every connection through a chaos proxy, on a private
3-node RabbitMQ cluster.

Topology (each arrow through a :class:`ChaosProxy`; one proxy per service and broker node):

    gateway api/relay/projector/watchdog/webhooks ──▶ rabbit-0, rabbit-1, rabbit-2
    generator-0 (tiny-image, broken-image; batching) ──▶ (each service lists the three nodes,
    generator-1 (tiny-video; batching)               ──▶  in its own order, and fails over)
    notifier-0, notifier-1                           ──▶
    gateway processes ──▶ PostgreSQL (gateway db)      notifier ──▶ PostgreSQL (notifier db)
    gateway webhooks ──▶ a webhook receiver in the test (answers 503 to every 5th request)

Each generator serves its own models (``SORAMI_GENERATOR_SERVE_MODELS``: it consumes only
their queues), so a model's jobs wait while its one generator is down, and the broken model
sits with tiny-image (its jobs still fail readably). It reuses
:class:`tests.e2e.system.System` (processes, env, logs, clients) and only changes where each
service connects and can SIGKILL / restart a process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.requests import Request
from starlette.responses import Response

from tests.e2e.system import Proc, System
from tests.support.chaos_proxy import ChaosProxy
from tests.support.webhooks import Receiver

# A model that always fails to load: every attempt fails, so the job must end FAILED with a
# readable reason after the queue's bounded number of attempts.
BROKEN_MODEL = "broken-image"
BROKEN_MODEL_SPEC = {
    "source": "/nonexistent/sorami-broken-model",
    "kind": "image",
    "pipeline": "StableDiffusionPipeline",
}
# the models of each generator replica, by replica: generator-0 the images (and the broken
# model), generator-1 the videos
GENERATOR_SERVES = [["tiny-image", BROKEN_MODEL], ["tiny-video"]]


def generator_of(kind: str) -> str:
    """The replica that serves a job of ``kind`` (the broken image model's too)."""
    model = f"tiny-{kind}"
    return next(f"generator-{i}" for i, ms in enumerate(GENERATOR_SERVES) if model in ms)


@dataclass
class FaultSystem(System):
    # by service: one proxy per broker node, in the order that service lists the nodes
    broker_proxies: dict[str, list[ChaosProxy]] = field(default_factory=dict)
    broker_urls: dict[str, str] = field(default_factory=dict)  # by service: AMQP_URL (a list)
    db_proxies: dict[str, ChaosProxy] = field(default_factory=dict)  # gateway, notifier
    generator_overrides: dict[str, str] = field(default_factory=dict)
    faults: Counter[str] = field(default_factory=Counter)

    def _route(self, env: dict[str, str], prefix: str, service: str) -> dict[str, str]:
        env[f"{prefix}AMQP_URL"] = self.broker_urls[service]
        if service in self.db_proxies:
            env[f"{prefix}DATABASE_URL"] = self.db_proxies[service].url_for(
                self.database_urls[service]
            )
        return env

    @property
    def all_broker_proxies(self) -> list[ChaosProxy]:
        return [p for proxies in self.broker_proxies.values() for p in proxies]

    def gateway_env(self) -> dict[str, str]:
        return self._route(super().gateway_env(), "SORAMI_GATEWAY_", "gateway")

    def generator_env(self, index: int = 0) -> dict[str, str]:
        env = self._route(super().generator_env(index), "SORAMI_GENERATOR_", "generator")
        env["HF_HUB_OFFLINE"] = "1"  # the broken model must fail fast, not wait on a network
        env.update({f"SORAMI_GENERATOR_{k}": v for k, v in self.generator_overrides.items()})
        return env

    def notifier_env(self) -> dict[str, str]:
        return self._route(super().notifier_env(), "SORAMI_NOTIFIER_", "notifier")

    def proc(self, name: str) -> Proc:
        return next(p for p in self.procs if p.name == name)

    async def kill(self, name: str) -> None:
        """SIGKILL: no shutdown code runs, unacknowledged deliveries go back to the queue."""
        p = self.proc(name)
        assert p.popen is not None and p.alive(), self.report(f"{name} was not running")
        os.killpg(p.popen.pid, signal.SIGKILL)
        await asyncio.to_thread(p.popen.wait)

    async def restart(self, name: str, *, kill: bool = True) -> None:
        if kill:
            await self.kill(name)
        self.proc(name).start()

    def log_count(self, name_prefix: str, needle: str) -> int:
        return sum(
            p.log_path.read_text(errors="replace").count(needle)
            for p in self.procs
            if p.name.startswith(name_prefix)
        )


@dataclass(frozen=True)
class Accepted:
    """A job the client got a 2xx for."""

    job_id: str
    kind: str
    user: str
    files: int  # how many files a success has
    broken: bool = False
    webhook: bool = False  # asked for a webhook: its terminal event must reach the receiver
    batch: str | None = None  # the id of its batch (``POST /api/batches``), if any


# Every third job asks for a webhook to the test's receiver; the deliverer may reach it on
# loopback, over plain http, and retries fast.
WEBHOOK_SETTINGS = {
    "WEBHOOKS__ALLOWED_NETWORKS": '["127.0.0.0/8"]',
    "WEBHOOKS__ALLOW_HTTP": "true",
    "WEBHOOKS__BACKOFF_BASE_S": "0.5",
    "WEBHOOKS__BACKOFF_MAX_S": "4",
    "WEBHOOKS__POLL_INTERVAL_S": "1",
}


def wants_webhook(i: int) -> bool:
    return i % 3 == 0


@dataclass
class FlakyReceiver(Receiver):
    """Verifies each request on receipt, as a real receiver does (the Standard Webhooks
    timestamp tolerance is 5 minutes: checking at the end of a long run would refuse early
    messages), with the secrets of ``/faults/<user>``; answers 503 to every 5th request, so
    deliveries are retried during the run too."""

    secrets: dict[str, str] = field(default_factory=dict)

    def answer(self, request: Request) -> Response:
        got = self.received[-1]
        user = got.path.rsplit("/", 1)[-1]
        with contextlib.suppress(KeyError, WebhookVerificationError):
            got.payload = Webhook(self.secrets[user]).verify(got.body, got.headers)
        if len(self.received) % 5 == 0:
            return Response(status_code=503)
        return super().answer(request)


def job_body(kind: str, i: int, *, broken: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt": f"fault harness {kind} {i}",
        "width": 64,
        "height": 64,
        "num_inference_steps": 2,
        "seed": i,
    }
    if kind == "image":
        body["num_images"] = 1 + i % 2
        if broken:
            body["model"] = BROKEN_MODEL
    else:
        body["num_frames"] = 8
        body["fps"] = 8
    return body


def expected_files(kind: str, body: dict[str, Any]) -> int:
    return int(body.get("num_images", 1)) if kind == "image" else 1


def summarize(faults: Counter[str]) -> str:
    return json.dumps(dict(sorted(faults.items())))
