"""Command-line tools some tests need (kubectl, promtool): installed with apt when missing,
like the project's other prerequisites (scripts/ensure-services.sh); a test that still cannot
find one FAILS, it never skips."""

from __future__ import annotations

import shutil
import subprocess

import pytest

# binary -> the Debian package that provides it
PACKAGES = {"kubectl": "kubectl", "promtool": "prometheus"}


def require_tool(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", PACKAGES[binary]],
            capture_output=True,
            timeout=600,
            check=False,
        )
        path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is missing and `apt-get install {PACKAGES[binary]}` did not help")
    return path
