"""exit_now: the status asked for, and every line logged before it written out (a buffered
stdout that is not flushed loses them under os._exit)."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import sys
from sorami_shared.logging import configure_logging, get_logger
from sorami_shared.process import exit_now
configure_logging("probe", fmt="json", level="INFO")
get_logger("probe").info("stopped", job_id="j-1")
print("plain line", end="")
sys.stderr.write("to stderr")
exit_now(3)
"""


def test_exit_now_flushes_logs_and_streams_then_exits_with_the_code() -> None:
    # stdout to a pipe is block-buffered (unless PYTHONUNBUFFERED, as here and in the images,
    # so it is left out): without the flush the last lines would be lost
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 3, done.stderr
    assert '"event": "stopped"' in done.stdout and '"job_id": "j-1"' in done.stdout
    assert done.stdout.endswith("plain line")
    assert "to stderr" in done.stderr
