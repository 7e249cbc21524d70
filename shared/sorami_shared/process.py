"""How a long-running service process ends after a clean stop.

Once a service has stopped its work (messages settled, connections closed) and logged that,
nothing is left for the interpreter's own teardown to do but collect torch's, SQLAlchemy's and
aio-pika's module state, which takes seconds. :func:`exit_now` flushes the logs and the standard
streams and leaves at once, so a SIGTERM ends a pod, a supervisor restart or a test's system in
well under a second after the last log line.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn


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
