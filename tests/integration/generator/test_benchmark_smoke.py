"""The throughput benchmark's ``--smoke`` mode runs (CPU, tiny models), so it cannot rot before
the next GPU run. Its figures on this CPU mean nothing; that every figure is printed does."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)

SCRIPT = Path(__file__).parents[3] / "services/generator/benchmarks/throughput.py"


def test_the_benchmark_smoke_run_prints_every_figure(tiny_models_dir):
    args = ["--smoke", "--jobs", "8", "--users", "4", "--steps", "2", "--frames", "4"]
    args += ["--video-jobs", "2", "--model-dir", str(tiny_models_dir)]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=220
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for kind in ("image", "video"):
        assert re.search(rf"\[{kind}\] .*plain pipe\(\) batch 1: \d+ ms .* batch \d+: \d+ ms", out)
        assert re.search(rf"\[{kind}\] lone job on an idle worker: \d+ ms = [\d.]+x plain", out)
        assert re.search(rf"\[{kind}\] burst of .* = [\d.]+x plain batch 1, [\d.]+x plain", out)
        assert re.search(rf"\[{kind}\] .*p50 \d+ ms, p95 \d+ ms", out)
        assert re.search(rf"\[{kind}\] device idle between batches: [\d.]+% of \d+ calls", out)
        assert re.search(rf"\[{kind}\] [\d.]+ TFLOP per {kind}; MFU under the burst: ", out)
    tier = r"\[image\] decode tier, batch \d+: full VAE [\d.]+ images/s, tiny autoencoder "
    assert re.search(tier + r"[\d.]+ images/s = [\d.]+x", out), out
    sizes = re.search(r"\[image\] .*batch sizes \(jobs x calls\): (.*)", out).group(1)
    assert any(int(s.split("x")[0]) > 1 for s in sizes.split(", ")), out  # the burst batched


@pytest.mark.parametrize("family", ["sdxl", "flux-schnell", "wan-1.3b"])
def test_the_family_benchmark_smoke_run_prints_generator_against_plain_and_mfu(family, tmp_path):
    """``--family`` builds that family's model (tiny here, full size on a GPU), saves it, and
    times plain ``pipe()`` against the generator's path in the same run."""
    args = ["--smoke", "--family", family, "--jobs", "3", "--users", "2", "--steps", "1"]
    args += ["--video-jobs", "2", "--model-dir", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=220
    )
    assert done.returncode == 0, done.stderr[-3000:]
    kind = "video" if family.startswith("wan") else "image"
    out = done.stdout
    assert re.search(rf"\[{kind}\] .*plain pipe\(\) batch 1: \d+ ms .* batch \d+: \d+ ms", out)
    assert re.search(rf"\[{kind}\] burst of .*: [\d.]+ {kind}s/s = [\d.]+x plain batch 1", out)
    assert re.search(rf"\[{kind}\] [\d.]+ TFLOP per {kind}; MFU under the burst: ", out)
    assert "[image]" not in out if kind == "video" else "[video]" not in out  # that family only
