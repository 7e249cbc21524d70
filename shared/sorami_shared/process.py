"""How a long-running service process runs its event loop, and ends after a clean stop.

:func:`run` runs a service's main coroutine on uvloop (a dependency of ``sorami-shared`` on
Linux and macOS), or on asyncio's own loop with ``SORAMI_EVENT_LOOP=asyncio`` or where uvloop
cannot be imported. uvloop costs the workers less CPU a job (docs/scaling.md). It was opt-in
until the fault run had passed under it repeatedly: the first such run found aiormq ending a
handshake cut by the network in ``StopAsyncIteration`` (handled since:
messaging/connection.py).

Once a service has stopped its work (messages settled, connections closed) and logged that,
nothing is left for the interpreter's own teardown to do but collect torch's, SQLAlchemy's and
aio-pika's module state, which takes seconds. :func:`exit_now` flushes the logs and the standard
streams and leaves at once, so a SIGTERM ends a pod, a supervisor restart or a test's system in
well under a second after the last log line.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``main`` on uvloop unless ``SORAMI_EVENT_LOOP=asyncio`` asks for asyncio's own loop
    or uvloop cannot be imported (see the module doc)."""
    if os.environ.get("SORAMI_EVENT_LOOP", "uvloop") != "asyncio":
        try:
            import uvloop
        except ImportError:  # a machine that lacks it: asyncio's own loop works the same
            pass
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(main)
    return asyncio.run(main)


def exit_now(code: int = 0) -> NoReturn:
    """Flush every log handler and the standard streams, then exit with ``code``; no
    ``atexit`` handler runs (the services register none: stopping is their own code)."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken: nothing more can be written
            pass
    os._exit(code)
