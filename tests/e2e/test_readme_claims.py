"""What the README says about the commands a new user types first: `make help` lists every
target of the Makefile, and the last line `make run` prints is the web app's URL."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess

import pytest

from tests.e2e.test_deploy_config import ROOT

pytestmark = pytest.mark.e2e


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    phony = re.findall(r"^\.PHONY:(.*)$", text, re.M)
    return {t for line in phony for t in line.split()}


def test_make_help_lists_every_target() -> None:
    make = shutil.which("make")
    assert make, "make is not installed"
    out = subprocess.run(
        [make, "-s", "--no-print-directory", "help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    described = dict(re.findall(r"^  ([a-z0-9-]+) +(\S.*)$", out, re.M))
    targets = makefile_targets()
    assert len(targets) > 20
    assert targets == set(described), targets ^ set(described)
    readme = (ROOT / "README.md").read_text()
    assert "`make help`" in readme


def test_the_last_line_of_make_run_is_the_web_app_url() -> None:
    """`make run` = `make up` + `make demo`: the demo prints last, and its last line is the
    web app's URL, as the README's quick start says."""
    spec = importlib.util.spec_from_file_location("sorami_demo", ROOT / "scripts" / "demo.py")
    assert spec and spec.loader
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    text = demo.closing("http://127.0.0.1:8000", "demo", 12.3)
    assert text.splitlines()[-1].startswith("Web app: http://127.0.0.1:8000/ ")
    assert re.search(r"^run: up demo\b", (ROOT / "Makefile").read_text(), re.M)
    readme = (ROOT / "README.md").read_text()
    assert "open the web app the last line prints, <http://127.0.0.1:8000/>" in readme
