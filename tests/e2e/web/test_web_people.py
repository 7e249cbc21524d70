"""The web app as people use it: two users side by side, a screen reader and a keyboard
(axe-core scan of the main views), a phone, and the page's own weight."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from tests.e2e.web.browsing import Browsing

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

FAST = {"width": 64, "height": 64, "num_inference_steps": 2}
PAGE_BUDGET_BYTES = 100 * 1024


def test_two_users_in_two_contexts_see_only_their_own(
    browsing: Browsing, second_user: Browsing
) -> None:
    alice, bob = browsing, second_user
    alice.sign_in("alice")
    bob.sign_in("bob")
    bob.expect_console(r"status of 404")
    a_card = alice.generate("image", "alice's lantern", **FAST)
    b_card = bob.generate("video", "bob's river", num_frames=8, fps=8, **FAST)
    expect(a_card).to_have_attribute("data-status", "COMPLETED", timeout=90_000)
    expect(b_card).to_have_attribute("data-status", "COMPLETED", timeout=90_000)
    expect(alice.page.locator("#bell-count")).to_have_text("1")
    expect(bob.page.locator("#bell-count")).to_have_text("1")
    a_job, b_job = a_card.get_attribute("data-job-id"), b_card.get_attribute("data-job-id")
    for me, mine, theirs in ((alice, a_job, b_job), (bob, b_job, a_job)):
        me.page.reload()
        me.wait_ready()
        expect(me.cards()).to_have_count(1)
        expect(me.card(mine)).to_be_visible()
        assert all(e["data"].get("job_id") != theirs for e in me.events() if e["data"])
        me.page.locator("#bell").click()
        expect(me.page.locator("#notif-panel .notif")).to_have_count(1)
    expect(alice.page.locator("#notif-panel")).to_contain_text("image")
    expect(bob.page.locator("#notif-panel")).to_contain_text("video")
    # bob's browser, with bob's token, asking for alice's job: the same 404 as a missing one
    status = bob.page.evaluate(
        """async (id) => (await fetch(`/api/images/${id}/result`, {headers:
             {Authorization: `Bearer ${sessionStorage.getItem("sorami.token")}`}})).status""",
        a_job,
    )
    assert status == 404


def _serious(page: Page, view: str) -> list[str]:
    violations = Axe().run(page).response["violations"]
    return [
        f"{view}: {v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


def test_accessibility_and_keyboard_on_the_main_views(browsing: Browsing) -> None:
    page = browsing.page
    page.goto(browsing.system.base_url)
    problems = _serious(page, "sign-in")
    browsing.sign_in("ada")
    # keyboard only: the prompt, then Generate, with no mouse
    page.get_by_label("Prompt", exact=True).focus()
    page.keyboard.type("a harbour at night")
    for name, value in {"width": 64, "height": 64, "num_inference_steps": 2}.items():
        page.locator(f"#f-{name}").fill(str(value))
    page.get_by_role("button", name="Generate").focus()
    page.keyboard.press("Enter")
    card = browsing.cards().first
    expect(card).to_have_attribute("data-status", "COMPLETED", timeout=90_000)
    expect(page.locator("#announcer")).not_to_be_empty()
    for prompt in ("a glass greenhouse", "autumn forest path"):
        done = browsing.generate("image", prompt, **FAST)
        expect(done).to_have_attribute("data-status", "COMPLETED", timeout=90_000)
    video = browsing.generate("video", "ocean waves", num_frames=8, fps=8, **FAST)
    expect(video).to_have_attribute("data-status", "COMPLETED", timeout=90_000)
    running = browsing.generate("image", "a slow sunrise", width=128, height=128, **{
        "num_inference_steps": 40})  # fmt: skip
    expect(running.locator("progress")).not_to_have_attribute("value", "0", timeout=30_000)
    problems += _serious(page, "gallery")  # with a live progress bar in it
    browsing.shot("gallery")
    running.get_by_role("button", name="Cancel").click()
    expect(running).to_have_attribute("data-status", "CANCELLED")

    opener = card.locator(".card-media")
    opener.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog")).to_be_visible()
    problems += _serious(page, "detail")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(opener).to_be_focused()

    page.locator("#bell").click()
    expect(page.locator("#notif-heading")).to_be_focused()
    problems += _serious(page, "notifications")
    page.keyboard.press("Escape")
    expect(page.locator("#notif-panel")).to_be_hidden()
    assert not problems, "\n".join(problems)


def test_first_load_is_light_and_a_phone_works(browsing: Browsing, browser: Browser) -> None:
    own: dict[str, int] = {}
    origin = urlparse(browsing.system.base_url).netloc

    def count(response) -> None:
        url = urlparse(response.url)
        if url.netloc == origin and url.path.endswith((".js", ".css")) and response.ok:
            own[url.path] = len(response.body())

    browsing.page.on("response", count)
    browsing.sign_in("pat")
    total = sum(own.values())
    print(f"\n[web] first load: {len(own)} JS/CSS files, {total} bytes uncompressed")
    assert "/js/main.js" in own and "/app.css" in own
    assert total < PAGE_BUDGET_BYTES, own

    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    try:
        mobile = Browsing(browsing.system, phone.new_page(), browsing.artifacts)
        mobile.sign_in("phone")
        card = mobile.generate("image", "a paper boat", **FAST)
        expect(card).to_have_attribute("data-status", "COMPLETED", timeout=90_000)
        page = mobile.page
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        composer = page.locator(".composer").bounding_box()
        gallery = page.locator(".gallery-panel").bounding_box()
        assert composer and gallery and gallery["y"] >= composer["y"] + composer["height"]
        assert composer["width"] <= 390
        mobile.shot("phone")
        mobile.assert_no_console_errors()
    finally:
        phone.close()
