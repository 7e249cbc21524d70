"""The encode and preview benchmarks' ``--smoke`` runs print every figure (their numbers on a
shared CPU mean little; that each is printed does)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parents[3] / "services/generator/benchmarks"
SCRIPT = BENCHMARKS / "encoding.py"


def test_the_encode_benchmark_smoke_run_prints_every_format():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--size", "256"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for label in ("png", "jpeg q100", "jpeg q75", "webp q100", "webp q75"):
        assert re.search(rf"^\[{label}\] [\d.]+ ms, \d+ bytes", done.stdout, re.M), done.stdout
    assert re.search(r"\[parallel\] 4 png images: .* = [\d.]+x", done.stdout)


def test_the_preview_benchmark_smoke_run_prints_each_mode_against_none():
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "previews.py"), "--smoke", "--steps", "8"],
        capture_output=True,
        text=True,
        timeout=200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for mode in ("off", "default", "4 per job"):
        pattern = rf"^\[previews {mode}\] \d+ ms per job, [\d.]+ previews per job = [\d.]+x"
        assert re.search(pattern, done.stdout, re.M), done.stdout
    assert re.search(r"\[previews 4 per job\] .* 4\.0 previews per job", done.stdout)
    assert re.search(r"\[previews off\] .* 0\.0 previews per job", done.stdout)
