"""The web app ships inside the gateway's distribution: a wheel built from services/gateway
holds every file of web/ (sorami_gateway/web links to it), and the gateway image copies
web/ so the link resolves when the image installs the gateway."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"


def test_the_gateway_wheel_carries_the_web_app(tmp_path: Path) -> None:
    # The image's layout (deploy/docker/gateway.Dockerfile): the gateway and web/ side by side.
    source = tmp_path / "app"
    ignore = shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    shutil.copytree(ROOT / "services" / "gateway", source / "services" / "gateway",
                    symlinks=True, ignore=ignore)  # fmt: skip
    shutil.copytree(WEB, source / "web")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         str(source / "services" / "gateway"), "-w", str(tmp_path / "dist")],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("sorami_gateway-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    files = [p.relative_to(WEB).as_posix() for p in WEB.rglob("*") if p.is_file()]
    assert "index.html" in files and "js/main.js" in files
    missing = [f for f in files if f"sorami_gateway/web/{f}" not in names]
    assert not missing, f"not in the wheel: {missing}"


def test_the_gateway_image_copies_the_web_app() -> None:
    dockerfile = (ROOT / "deploy" / "docker" / "gateway.Dockerfile").read_text()
    copy_web = dockerfile.index("COPY web /app/web")
    assert copy_web < dockerfile.index("RUN pip install")
    link = ROOT / "services" / "gateway" / "sorami_gateway" / "web"
    assert link.is_symlink() and link.resolve() == WEB.resolve()
