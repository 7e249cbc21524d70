"""``sorami-generator run`` (the worker) and ``sorami-generator build-tiny`` (prebuild the
built-in tiny models into the model cache)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from sorami_shared.logging import configure_logging, get_logger
from sorami_shared.metrics_server import port_option, serve_metrics
from sorami_shared.process import exit_now, run

from .settings import GeneratorSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sorami-generator")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="consume generation.requested and generate", parents=[port_option()])
    build = sub.add_parser("build-tiny", help="build the tiny random-weight models")
    build.add_argument("names", nargs="*", default=["tiny-image", "tiny-video", "tiny-i2v"])
    args = parser.parse_args(argv)

    settings = GeneratorSettings()
    configure_logging("generator", fmt=settings.effective_log_format, level=settings.log_level)
    if args.command == "build-tiny":
        from .tiny_models import ensure_built

        for name in args.names:
            path = ensure_built(name, settings.model_cache_dir)
            get_logger(__name__).info("tiny model ready", model=name, path=str(path))
        return 0
    port = args.metrics_port or settings.metrics_port
    serve_metrics(port, host=settings.metrics_host, process="generator")
    exit_now(run(_run(settings)))  # after a clean stop, skip torch's teardown (seconds)


async def _run(settings: GeneratorSettings) -> int:
    from .service import run_worker

    await run_worker(settings, asyncio.Event(), install_signal_handlers=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
