"""``sorami-gateway api``: uvicorn serving the app, in ``workers`` processes
(``SORAMI_GATEWAY_WORKERS``; ``make up`` sets it from the machine's cores).

One worker: uvicorn runs in this process. Several: this process binds the socket, starts the
workers (spawned, each builds its own app, pool and event hub, and accepts on the shared
socket), forwards SIGTERM/SIGINT to them and exits when they have; if one dies, it stops the
others and exits 1, so the supervisor restarts the whole API. Metrics: the workers write
Prometheus' multiprocess files (``PROMETHEUS_MULTIPROC_DIR``, a fresh directory) and this
process serves their sum on the metrics port.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
from multiprocessing.connection import wait

import uvicorn
from fastapi import FastAPI
from sorami_shared.logging import configure_logging, get_logger
from sorami_shared.metrics_server import serve_metrics
from sorami_shared.process import exit_now

from .app import close_event_streams, create_app
from .settings import GatewaySettings

log = get_logger("sorami_gateway")


class _Server(uvicorn.Server):
    def handle_exit(self, sig: int, frame: object) -> None:
        # uvicorn waits for open responses before shutting down; server-sent event streams
        # never end on their own, so end them (clients resume with Last-Event-ID).
        app = self.config.loaded_app
        while not isinstance(app, FastAPI) and hasattr(app, "app"):
            app = app.app  # through uvicorn's wrappers
        if isinstance(app, FastAPI):
            asyncio.get_event_loop().call_soon_threadsafe(close_event_streams, app)
        super().handle_exit(sig, frame)  # type: ignore[arg-type]


def _serve(settings: GatewaySettings, host: str, port: int, sock: socket.socket | None) -> None:
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        # a safety net: open event streams are ended by _Server.handle_exit
        timeout_graceful_shutdown=10,
    )
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal against the
    # handlers that were installed before it ran: make those no-ops so that a requested stop
    # ends with exit status 0 (access logs are our middleware's).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    _Server(config).run(sockets=[sock] if sock is not None else None)


def _worker(host: str, port: int, sock: socket.socket, index: int) -> None:
    """A spawned worker: settings from the same environment, its own logging and app."""
    settings = GatewaySettings()
    configure_logging(
        f"gateway-api-{index}", fmt=settings.effective_log_format, level=settings.log_level
    )
    _serve(settings, host, port, sock)
    exit_now(0)


def run_api(settings: GatewaySettings, host: str, port: int, metrics_port: int | None) -> None:
    if settings.workers <= 1:
        serve_metrics(metrics_port, host=settings.metrics_host, process="gateway-api")
        _serve(settings, host, port, None)
        return
    metrics_dir = tempfile.mkdtemp(prefix="sorami-gateway-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # read by the spawned workers
    try:
        _supervise_workers(settings, host, port, metrics_port, metrics_dir)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _supervise_workers(
    settings: GatewaySettings, host: str, port: int, metrics_port: int | None, metrics_dir: str
) -> None:
    from prometheus_client import CollectorRegistry, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=metrics_dir)
    serve_metrics(
        metrics_port, host=settings.metrics_host, process="gateway-api", registry=registry
    )
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    spawn = multiprocessing.get_context("spawn")
    workers = [
        spawn.Process(target=_worker, args=(host, port, sock, i), name=f"gateway-api-{i}")
        for i in range(settings.workers)
    ]
    stopping: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _: stopping.append(signum))
    for worker in workers:
        worker.start()
    log.info("gateway api workers started", workers=settings.workers, host=host, port=port)
    while not stopping and all(w.is_alive() for w in workers):
        wait([w.sentinel for w in workers], timeout=0.5)
    failed = not stopping
    for worker in workers:
        if worker.is_alive():
            os.kill(worker.pid, signal.SIGTERM)  # type: ignore[arg-type]
    for worker in workers:
        worker.join()
    sock.close()
    if failed:
        log.error(
            "a gateway api worker died; stopping the others",
            exit_codes=[w.exitcode for w in workers],
        )
        raise SystemExit(1)
