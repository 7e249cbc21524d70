"""``make bench-scheduler --smoke`` as a test: a batch and 5 interactive users on the whole
system, the fair scheduler then FIFO (the relay restarted with the policy). What must hold
whatever the machine's load: every job completes, interactive jobs wait less under the fair
scheduler than under FIFO (which queues them behind the batch), and the stored positions
were the start order."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import bench_scheduler  # noqa: E402


@pytest.mark.timeout(300)
async def test_bench_scheduler_smoke(tiny_model_cache: Path) -> None:
    results = await bench_scheduler.main(["--smoke", "--models", str(tiny_model_cache)])
    fair, fifo = results["fair"], results["fifo"]
    for r in (results["alone"], fair, fifo):
        assert r["failed"] == 0 and r["batch_jobs_s"] > 0
    assert fair["interactive_jobs"] >= 5 and fifo["interactive_jobs"] >= 5
    assert len(fair["waits"]) == fair["interactive_jobs"]
    p95 = bench_scheduler.pct
    assert p95(fair["waits"], 0.95) < p95(fifo["waits"], 0.95), (fair["waits"], fifo["waits"])
    assert fair["accuracy"] >= 0.9 and fair["jain"] > 0.8
