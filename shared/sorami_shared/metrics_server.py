"""The metrics port of a process: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz``.

Workers (relay, projector, watchdog, generator, notifier) have no HTTP API of their own; this
port gives Kubernetes their probes. ``/healthz``: the process runs. ``/readyz``: every
:class:`~sorami_shared.messaging.EventBus` of the process is connected (a process without one,
the watchdog, is ready once it runs). Served from a daemon thread, so a busy event loop (or a
pipeline call) never delays a scrape.
"""

from __future__ import annotations

import argparse
import threading
import weakref
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from .logging import get_logger

log = get_logger(__name__)

_connections: weakref.WeakSet[Any] = weakref.WeakSet()  # objects with a ``connected`` property


def watch_connection(bus: Any) -> None:
    """``/readyz`` answers 503 while ``bus.connected`` is false."""
    _connections.add(bus)


def ready() -> bool:
    return all(bus.connected for bus in list(_connections))


def port_option() -> argparse.ArgumentParser:
    """``--metrics-port``, for the subcommands of a long-running process (a parent parser)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve /metrics, /healthz, /readyz on this port (default: the METRICS_PORT setting)",
    )
    return parser


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass  # scrapes and probes every few seconds: not worth a log line each


def _app(registry: Any = None) -> Callable[..., Iterable[bytes]]:
    metrics = make_wsgi_app(registry) if registry is not None else make_wsgi_app()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        if path == "/readyz":
            ok = ready()
            start_response("200 OK" if ok else "503 Service Unavailable", [])
            return [b"ready\n" if ok else b"broker not connected\n"]
        return metrics(environ, start_response)

    return app


def serve_metrics(port: int | None, *, host: str, process: str, registry: Any = None) -> None:
    """Serve on ``http://host:port`` from a daemon thread; ``None`` or 0: no endpoint.
    ``registry``: another than the process's own (e.g. a multiprocess collector's)."""
    if not port:
        return
    server = make_server(host, port, _app(registry), _Server, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics served", url=f"http://{host}:{port}/metrics", process=process)
