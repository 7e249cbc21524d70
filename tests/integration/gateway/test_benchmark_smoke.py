"""``make bench-gateway``'s script in its ``--smoke`` mode runs end to end (so it cannot rot):
every figure is printed and every request was answered as expected. Its numbers on a shared
test machine mean nothing, so none is asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)

SCRIPT = Path(__file__).parents[3] / "services/gateway/benchmarks/post_throughput.py"
FIGURE = r"\s+\d+ req/s\s+p50\s+[\d.]+\s+p95\s+[\d.]+\s+p99\s+[\d.]+ ms .*client CPU [\d.]+ s"


def test_the_smoke_run_prints_every_figure():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke"], capture_output=True, text=True, timeout=220
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    for phase in (
        "create, 1 worker ",
        "create, 1 worker, sequential",
        "create, 1 worker, 20 streams open",
        "create, 2 workers ",
        "create, 2 workers, 50 req/s offered",
        "status poll, 2 workers",
        "same create, bare asyncpg \\(ceiling\\)",
    ):
        assert re.search(phase + FIGURE, out), (phase, out)
    assert re.search(r"20 idle event streams on 1 worker: .* RSS \d+ -> \d+ MiB", out), out
    assert re.search(r"2 workers / bare asyncpg ceiling: \d+ / \d+ = \d+%", out), out
