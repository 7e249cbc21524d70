"""The gateway restarts while the page is open: the page reconnects with the last event id it
saw, and every status the server logged for the user meanwhile reaches it (none is missed)."""

from __future__ import annotations

import os
import signal
import time

import pytest
from playwright.sync_api import expect

from tests.e2e.system import System
from tests.e2e.web.browsing import Browsing, run_async
from tests.support.sse import sse_stream

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

ID_LESS_FRAMES = {"ready", "resync", "preview"}  # events/stream.py sends these without an id


def _server_log(system: System, user: str, through: int) -> list[tuple[int, str, str | None]]:
    """Every event the gateway logged for ``user`` up to id ``through`` (replayed from 0)."""

    async def read() -> list[tuple[int, str, str | None]]:
        async with sse_stream(system.base_url, token=system.token(user), last_event_id=0) as s:
            await s.wait_for(lambda r: r.last_id is not None and r.last_id >= through)
            return [(f.id, f.event, f.data.get("status")) for f in s.events if f.id <= through]

    return run_async(read())


def _pid(system: System, name: str) -> int:
    return next(p for p in system.procs if p.name == name).popen.pid  # type: ignore[union-attr]


def test_the_page_resumes_after_a_gateway_restart_and_misses_no_status(browsing: Browsing) -> None:
    # Connection failures while the gateway is down are what this test provokes.
    browsing.expect_console(r"ERR_CONNECTION_REFUSED|ERR_INCOMPLETE_CHUNKED_ENCODING|ERR_EMPTY")
    system, page = browsing.system, browsing.page
    user = browsing.sign_in("rita")
    card = browsing.generate(
        "image", "a slow lighthouse", width=96, height=96, num_inference_steps=24
    )
    job_id = card.get_attribute("data-job-id")
    expect(card).to_have_attribute("data-status", "PROCESSING", timeout=30_000)

    # The generator holds still while the gateway stops, then finishes the job while it is down
    # (its progress, outcome and notification land in the log with nobody streaming them).
    os.kill(_pid(system, "generator-0"), signal.SIGSTOP)
    try:
        assert job_id not in system.generator_timings(), "the job ended before the test's stop"
        api = next(p for p in system.procs if p.name == "gateway-api")
        api.popen.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        assert api.popen.wait(30) == 0  # type: ignore[union-attr]
    finally:
        os.kill(_pid(system, "generator-0"), signal.SIGCONT)
    expect(page.locator("#connection")).to_have_text("Reconnecting…")
    deadline = time.monotonic() + 60
    while job_id not in system.generator_timings():  # it finishes while the gateway is down
        assert time.monotonic() < deadline, system.report("the job did not finish")
        time.sleep(0.2)
    api.start()
    run_async(system.wait_ready(60))

    expect(page.locator("#connection")).to_have_text("Live", timeout=30_000)
    expect(card).to_have_attribute("data-status", "COMPLETED", timeout=30_000)
    assert browsing.natural_size(card.locator("img")) == (96, 96)
    expect(page.locator("#bell-count")).to_have_text("1")  # the notification made meanwhile

    # A frame without an id (ready, resync, a live preview) still shows the EventSource's
    # last id in ``lastEventId`` (the SSE spec): it must not stand for the logged event.
    seen = {
        int(e["id"]): (e["type"], (e["data"] or {}).get("status"))
        for e in browsing.events()
        if e["id"] and e["type"] not in ID_LESS_FRAMES
    }
    logged = _server_log(system, user, max(seen))
    missed = [event for event in logged if event[0] not in seen]
    assert not missed, f"the page missed {missed}"
    assert {status for _, _, status in logged} >= {"PENDING", "PROCESSING", "COMPLETED"}
    assert all(seen[i] == (kind, status) for i, kind, status in logged)
