"""The browser tier: Debian's chromium driven by Playwright against one whole system (every
service a process, the gateway in development so the sign-in form works), shared by every
browser test. A browser that cannot start is a failure, never a skip."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserType,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from tests.e2e.system import ROOT, System
from tests.e2e.web.browsing import Browsing, run_async
from tests.support import infra

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Events cross five processes on a shared 2-core machine: wait up to 15 s for what must appear.
expect.set_options(timeout=15_000)
ARTIFACTS = ROOT / ".run" / "artifacts" / "web"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    assert Path(CHROMIUM).is_file(), f"no chromium at {CHROMIUM}: make test installs it (apt)"
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
    }


# Playwright's sync API keeps an event loop set on this thread while it runs: end it with this
# package (pytest-playwright would keep it for the session, breaking the asyncio tests after).
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="package")
def browser_context_args() -> dict[str, Any]:
    return {"viewport": {"width": 1280, "height": 800}}


@pytest.fixture(scope="package")
def browser_type(playwright: Playwright, browser_name: str) -> BrowserType:
    return getattr(playwright, browser_name)


@pytest.fixture(scope="package")
def browser(
    browser_type: BrowserType, browser_type_launch_args: dict[str, Any]
) -> Iterator[Browser]:
    browser = browser_type.launch(**browser_type_launch_args)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\n[web] screenshots in {ARTIFACTS}")
    return ARTIFACTS


@pytest.fixture(scope="package")
def web_system(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_cache: Path
) -> Iterator[System]:
    """One system for the whole browser tier (each test signs in as its own users)."""
    base = tmp_path_factory.mktemp("web-system")
    print(f"[web] system logs in {base}/logs")
    vhost = infra.unique_name("sorami-web")
    databases = [infra.unique_name("test_web_gateway"), infra.unique_name("test_web_notifier")]
    amqp_url = infra.create_vhost(vhost)
    urls = [run_async(infra.create_database(name)) for name in databases]
    system = System(
        base_dir=base,
        database_urls={"gateway": urls[0], "notifier": urls[1]},
        amqp_url=amqp_url,
        storage_env={"STORAGE_BACKEND": "local", "STORAGE_LOCAL_DIR": str(base / "media")},
        model_cache_dir=tiny_model_cache,
        environment="development",
        video_models=["tiny-video", "tiny-i2v"],  # tiny-i2v: Animate (image-to-video)
    )
    try:
        run_async(system.start())
        yield system
    finally:
        codes = run_async(system.stop())
        for name in databases:
            run_async(infra.drop_database(name))
        infra.delete_vhost(vhost)
    bad = {name: code for name, code in codes.items() if code != 0}
    assert not bad, system.report(f"processes did not exit 0 on SIGTERM: {bad}")


@pytest.fixture
def browsing(web_system: System, page: Page, artifacts: Path) -> Iterator[Browsing]:
    """The test's page, watched: any console error or page error fails the test unless the
    test declared it expected (``browsing.expect_console(...)``)."""
    watched = Browsing(web_system, page, artifacts)
    yield watched
    watched.assert_no_console_errors()


@pytest.fixture
def second_user(web_system: System, browser: Browser, artifacts: Path) -> Iterator[Browsing]:
    """A second browser context (its own storage): another person on another machine."""
    context = browser.new_context()
    watched = Browsing(web_system, context.new_page(), artifacts)
    yield watched
    watched.assert_no_console_errors()
    context.close()
