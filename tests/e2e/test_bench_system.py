"""``make bench-system --smoke`` as a test: the benchmark runs the whole system with the
instant model and its stream checks hold (every job's terminal event and notification reached
its user's stream once, ids strictly rising, progress never falling)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import bench_system  # noqa: E402


@pytest.mark.timeout(300)
async def test_bench_system_smoke(tiny_model_cache: Path) -> None:
    [result] = await bench_system.main(["--smoke", "--models", str(tiny_model_cache)])
    print(bench_system.report(result))
    assert result["problems"] == []
    assert result["jobs"] == bench_system.cases(bench_system.parse(["--smoke"]))[0].jobs
    cpu = result["cpu"]
    assert cpu["gateway-projector"] > 0 and cpu["rabbitmq (beam.smp)"] > 0
    assert cpu["postgresql backends"] > 0
    assert bench_system.CLIENT in cpu  # apart: not counted as the system's
    report = bench_system.report(result)
    outside = float(report.split("everything but the generator")[1].split()[0])
    counted = sum(
        v for k, v in cpu.items() if not k.startswith("generator") and k != bench_system.CLIENT
    )
    assert outside == pytest.approx(counted * 1000 / result["jobs"], abs=0.01)
    assert result["jobs_s"] > 0 and len(result["lone"]) == bench_system.LONE_JOBS_SMOKE
