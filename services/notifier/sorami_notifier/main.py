"""``sorami-notifier run`` (consume until SIGTERM, exit 0) and ``sorami-notifier migrate``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from sorami_shared.logging import configure_logging, get_logger
from sorami_shared.metrics_server import port_option, serve_metrics
from sorami_shared.process import exit_now, run

from .settings import NotifierSettings

log = get_logger(__name__)


async def _run(settings: NotifierSettings) -> None:
    from .service import NotifierService

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    service = NotifierService(settings)
    starting = asyncio.create_task(service.start())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if starting.done():
        starting.result()  # raise a start-up failure
        await stopping
    else:
        starting.cancel()
        log.info("stopped before start-up finished")
    log.info("shutting down")
    await service.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sorami-notifier", description="Sorami's notifier service."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="consume generation outcomes until SIGTERM", parents=[port_option()])
    sub.add_parser("migrate", help="apply database migrations (alembic upgrade head)")
    args = parser.parse_args(argv)

    settings = NotifierSettings()
    configure_logging("notifier", fmt=settings.effective_log_format, level=settings.log_level)
    if args.command == "migrate":
        from .migrate import upgrade

        upgrade(settings.database_url)
        log.info("migrations applied")
        return 0
    port = args.metrics_port or settings.metrics_port
    serve_metrics(port, host=settings.metrics_host, process="notifier")
    try:
        run(_run(settings))
    except KeyboardInterrupt:
        pass
    exit_now(0)  # stopped cleanly and logged it: skip the interpreter's teardown


if __name__ == "__main__":
    sys.exit(main())
