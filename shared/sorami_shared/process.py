"""How a long-running service process runs its event loop, and ends after a clean stop.

:func:`run` runs a service's main coroutine on uvloop where it is installed (Linux and macOS:
a dependency of ``sorami-shared``), else on asyncio's own loop; ``SORAMI_EVENT_LOOP=asyncio``
asks for asyncio's anyway. uvloop's transports and its loop cost less CPU per message and per
round trip, which is most of what the event path's workers do (docs/scaling.md).

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
    """``asyncio.run(main)``, on uvloop when it can be imported (see the module doc)."""
    try:
        if os.environ.get("SORAMI_EVENT_LOOP", "uvloop") == "asyncio":
            raise ImportError("SORAMI_EVENT_LOOP=asyncio")
        import uvloop
    except ImportError:  # e.g. a machine that lacks it: asyncio's own loop works the same
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


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
