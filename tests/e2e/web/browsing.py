"""A page of the web app under test: sign in, use the form, read the gallery; every console
error and uncaught page error is collected and fails the test unless declared expected."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
from playwright.sync_api import ConsoleMessage, Locator, Page, expect

from tests.e2e.system import System

# Records every event the page's EventSource delivers (type, id, data), before the app runs.
RECORD_EVENTS = """
window.__events = [];
const add = EventSource.prototype.addEventListener;
EventSource.prototype.addEventListener = function (type, listener, options) {
  const wrapped = (e) => {
    window.__events.push({type: e.type, id: e.lastEventId, data: JSON.parse(e.data || "null")});
    return listener.call(this, e);
  };
  return add.call(this, type, wrapped, options);
};
"""

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from a sync test (Playwright's sync API owns this thread's
    event loop, so in a thread of its own)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class Browsing:
    def __init__(self, system: System, page: Page, artifacts: Path) -> None:
        self.system, self.page, self.artifacts = system, page, artifacts
        self.errors: list[str] = []
        self.expected: list[re.Pattern[str]] = []
        self.user = ""
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.add_init_script(RECORD_EVENTS)
        page.set_default_timeout(20_000)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} at {message.location.get('url')}")

    def expect_console(self, pattern: str) -> None:
        """A console error this test provokes on purpose (e.g. the 422 it asks for)."""
        self.expected.append(re.compile(pattern))

    def assert_no_console_errors(self) -> None:
        unexpected = [e for e in self.errors if not any(p.search(e) for p in self.expected)]
        assert not unexpected, "console errors:\n" + "\n".join(unexpected)

    # ---- the app ---------------------------------------------------------------------------

    def sign_in(self, name: str = "user") -> str:
        self.user = f"{name}-{uuid.uuid4().hex[:6]}"
        self.page.goto(self.system.base_url)
        self.page.get_by_label("Your name").fill(self.user)
        self.page.get_by_role("button", name="Sign in").click()
        self.wait_ready()
        return self.user

    def wait_ready(self) -> None:
        expect(self.page.locator("body[data-ready=true]")).to_have_count(1)
        expect(self.page.locator("#connection")).to_have_text("Live")

    def fill_form(self, kind: str, prompt: str, **fields: str) -> None:
        self.page.locator(f"label[for=kind-{kind}]").click()
        self.page.get_by_label("Prompt", exact=True).fill(prompt)
        for name, value in fields.items():
            self.page.locator(f"#f-{name}").fill(str(value))

    def generate(self, kind: str, prompt: str, **fields: str) -> Locator:
        """Submit the form; the new job's card (it appears at once)."""
        self.fill_form(kind, prompt, **fields)
        with self.page.expect_response(re.compile(r"/api/\w+/generate$")) as answer:
            self.page.get_by_role("button", name="Generate").click()
        job_id = answer.value.json()["job_id"]
        card = self.card(job_id)
        expect(card).to_be_visible()
        return card

    def card(self, job_id: str) -> Locator:
        return self.page.locator(f'#gallery [data-job-id="{job_id}"]')

    def cards(self) -> Locator:
        return self.page.locator("#gallery .card")

    def natural_size(self, image: Locator) -> tuple[int, int]:
        """The image's decoded size, once it has loaded."""
        handle = image.element_handle()
        self.page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=handle)
        return tuple(image.evaluate("img => [img.naturalWidth, img.naturalHeight]"))  # type: ignore[return-value]

    def events(self) -> list[dict[str, Any]]:
        return self.page.evaluate("window.__events")

    def unread(self) -> int:
        badge = self.page.locator("#bell-count")
        return 0 if badge.is_hidden() else int(badge.inner_text())

    def shot(self, name: str) -> Path:
        path = self.artifacts / f"{name}.png"
        self.page.evaluate("window.scrollTo(0, 0)")
        self.page.screenshot(path=path, full_page=False)
        return path

    # ---- the API behind it, as this user ---------------------------------------------------

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.system.base_url,
            headers={"Authorization": f"Bearer {self.system.token(self.user)}"},
            timeout=10,
        )
