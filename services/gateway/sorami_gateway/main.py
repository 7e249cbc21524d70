"""``sorami-gateway api|relay|projector|watchdog|webhooks|migrate``. Long-running processes
stop cleanly on SIGTERM/SIGINT and exit 0."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable

from sorami_shared.logging import configure_logging, get_logger
from sorami_shared.messaging import EventBus
from sorami_shared.metrics_server import port_option, serve_metrics
from sorami_shared.process import exit_now, run

from .settings import GatewaySettings

log = get_logger("sorami_gateway")

SOURCE = "sorami/gateway"


def _run_until_signalled(body: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await body(stop)

    run(runner())


async def run_relay(settings: GatewaySettings, stop: asyncio.Event) -> None:
    from sorami_shared.queue_stats import sample_queues
    from sorami_shared.storage import make_storage

    from .infra.db import create_engine, create_session_factory
    from .outbox.metrics import sample_outbox
    from .workers.dead_letters import DeadLetterReleaser
    from .workers.janitor import Janitor
    from .workers.relay import OutboxRelay
    from .workers.scheduler import Scheduler

    engine = create_engine(settings, pool_size=4, max_overflow=2)
    bus = EventBus(settings.amqp_url, source=SOURCE)
    sessions = create_session_factory(engine)
    try:
        storage = make_storage(settings)
    except Exception as exc:  # noqa: BLE001 - the outbox must flow even so
        log.error("storage misconfigured: files of deleted jobs wait", error=repr(exc))
        storage = None
    work = [
        OutboxRelay(settings, sessions, bus, stop=stop).run(),
        # the database is the queue of record: the scheduler releases jobs into the outbox
        Scheduler(settings, sessions, stop=stop).run(),
        # a request the broker dead-lettered is released again at once (bounded), then failed
        DeadLetterReleaser(settings, sessions, stop=stop).run(),
        sample_outbox(sessions, stop, settings.metrics_sample_interval_s),
        sample_queues(
            settings.amqp_url,
            stop,
            interval_s=settings.metrics_sample_interval_s,
            models=tuple(sorted(settings.registry)),
        ),
    ]
    if storage is not None:
        # The janitor (storage deletions, event-log retention) lives beside the relay: both
        # drain durable work from the gateway's database.
        work.append(Janitor(settings, sessions, storage, stop=stop).run())
    try:
        await asyncio.gather(*work)
    finally:
        await bus.close()
        if storage is not None:
            await storage.close()
        await engine.dispose()


async def run_projector(settings: GatewaySettings, stop: asyncio.Event) -> None:
    from .infra.db import create_engine, create_session_factory
    from .infra.transient import is_transient
    from .workers.projector import Projector, serve

    # one batch at a time, plus the one-at-a-time path after it: never a connection per event
    engine = create_engine(settings, pool_size=2, max_overflow=0)
    bus = EventBus(settings.amqp_url, source=SOURCE, is_transient=is_transient)
    projector = Projector(
        create_session_factory(engine),
        db_outage_s=settings.projector_db_outage_s,
        engine=engine,
        prefetch=settings.projector_prefetch,
        max_batch=settings.projector_max_batch,
    )
    try:
        await serve(projector, bus, stop)
    finally:
        await bus.close()
        await engine.dispose()


async def run_watchdog(settings: GatewaySettings, stop: asyncio.Event) -> None:
    from sorami_shared.queue_stats import sample_queues

    from .infra.db import create_engine, create_session_factory
    from .outbox.metrics import sample_outbox
    from .workers.watchdog import Watchdog

    engine = create_engine(settings, pool_size=1, max_overflow=1)
    sessions = create_session_factory(engine)
    interval_s = settings.metrics_sample_interval_s
    try:
        # The watchdog samples the outbox and the queues too: with the relay down (the very
        # case the outbox-age alert is for) its samples stop, these go on (the rules take max).
        await asyncio.gather(
            Watchdog(settings, sessions, stop=stop).run(),
            sample_outbox(sessions, stop, interval_s),
            sample_queues(settings.amqp_url, stop, interval_s=interval_s),
        )
    finally:
        await engine.dispose()


def run_migrate(settings: GatewaySettings) -> None:
    import logging

    from .infra.migrate import upgrade

    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    upgrade(settings.database_url)
    log.info("migrations applied")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sorami-gateway", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    metrics = port_option()
    api = commands.add_parser("api", help="serve the REST API", parents=[metrics])
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    commands.add_parser(
        "relay", help="schedule queued jobs and publish the outbox", parents=[metrics]
    )
    commands.add_parser("projector", help="project generator/notifier events", parents=[metrics])
    commands.add_parser(
        "watchdog", help="re-send, then fail, jobs that stopped progressing", parents=[metrics]
    )
    commands.add_parser(
        "webhooks", help="deliver signed webhooks (retries, SSRF guard)", parents=[metrics]
    )
    commands.add_parser("migrate", help="apply database migrations (alembic upgrade head)")
    args = parser.parse_args(argv)

    settings = GatewaySettings()
    configure_logging(
        f"gateway-{args.command}", fmt=settings.effective_log_format, level=settings.log_level
    )
    port = args.metrics_port or settings.metrics_port if args.command != "migrate" else None
    if args.command not in ("migrate", "api"):  # the api serves its own (one or many workers)
        serve_metrics(port, host=settings.metrics_host, process=f"gateway-{args.command}")
    if args.command == "api":
        from .api_server import run_api

        run_api(settings, args.host, args.port, port)
    elif args.command == "relay":
        _run_until_signalled(lambda stop: run_relay(settings, stop))
    elif args.command == "projector":
        _run_until_signalled(lambda stop: run_projector(settings, stop))
    elif args.command == "watchdog":
        _run_until_signalled(lambda stop: run_watchdog(settings, stop))
    elif args.command == "webhooks":
        from .workers.webhooks import run_deliverer

        _run_until_signalled(lambda stop: run_deliverer(settings, stop))
    elif args.command == "migrate":
        run_migrate(settings)
        return 0
    exit_now(0)  # stopped cleanly and logged it: skip the interpreter's teardown (seconds)


if __name__ == "__main__":
    sys.exit(main())
