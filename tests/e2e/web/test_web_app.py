"""The web app in a real browser against the whole system: sign in, generate an image and a
video, watch them happen, bad input, cancel, delete, the gallery and the notifications."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.e2e.web.browsing import Browsing

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

# Every value the page's progress bars take, in order (the bar is updated in place).
WATCH_PROGRESS = """
window.__progress = [];
new MutationObserver((records) => {
  for (const r of records) {
    if (r.target.tagName === "PROGRESS") window.__progress.push(r.target.value);
  }
}).observe(document.querySelector("#gallery"),
           {subtree: true, attributes: true, attributeFilter: ["value"]});
"""


# Every picture a card shows, in order: "preview" (the live picture forming) or "final".
WATCH_PICTURES = """
window.__pictures = [];
new MutationObserver((records) => {
  for (const r of records) {
    const imgs = [...r.addedNodes].flatMap((n) => n.tagName === "IMG" ? [n]
      : n.querySelectorAll ? [...n.querySelectorAll("img")] : []);
    if (r.type === "attributes" && r.target.tagName === "IMG") imgs.push(r.target);
    for (const img of imgs) {
      window.__pictures.push(img.classList.contains("preview") ? "preview" : "final");
    }
  }
}).observe(document.querySelector("#gallery"),
           {subtree: true, childList: true, attributes: true, attributeFilter: ["src"]});
"""


def test_sign_in_generate_an_image_and_find_it_after_a_reload(browsing: Browsing) -> None:
    page = browsing.page
    page.goto(browsing.system.base_url)
    expect(page.get_by_role("heading", name="Sign in to Sorami")).to_be_visible()
    browsing.shot("sign-in")
    browsing.sign_in("alice")
    expect(page.locator("#user-name")).to_have_text(browsing.user)
    page.evaluate(WATCH_PROGRESS)
    page.evaluate(WATCH_PICTURES)

    # a double click: one job (the form sends the same Idempotency-Key twice)
    browsing.fill_form("image", "a lighthouse at dawn", width=96, height=64, num_inference_steps=20)
    page.get_by_role("button", name="Generate").dblclick()
    card = browsing.cards().first
    expect(card).to_have_attribute("data-status", "COMPLETED", timeout=90_000)
    image = card.locator("img")
    expect(image).to_be_visible()
    assert browsing.natural_size(image) == (96, 64)  # as asked
    moved = [v for v in page.evaluate("window.__progress") if 0 < v < 100]
    assert moved, f"the progress bar did not move: {page.evaluate('window.__progress')}"
    pictures = page.evaluate("window.__pictures")  # the picture formed before the final one
    assert "preview" in pictures and "final" in pictures, pictures
    assert pictures.index("preview") < pictures.index("final"), pictures
    with browsing.api() as api:
        items = api.get("/api/generations").json()["items"]
    assert [i["job_id"] for i in items] == [card.get_attribute("data-job-id")]

    page.reload()
    browsing.wait_ready()
    expect(browsing.cards()).to_have_count(1)
    expect(browsing.cards().first.locator("img")).to_be_visible()
    browsing.cards().first.locator(".card-media").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("a lighthouse at dawn")
    expect(dialog).to_contain_text("96 × 64")
    expect(dialog).to_contain_text("tiny-image")
    signed = items[0]["files"][0]["url"].split("?")[0]  # the signature renews with each read
    expect(dialog.get_by_role("link", name="Download PNG")).to_have_attribute(
        "href", re.compile(re.escape(signed) + r"\?expires=\d+&signature=[0-9a-f]{64}$")
    )
    browsing.shot("detail-image")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_a_video_plays_in_a_video_element(browsing: Browsing) -> None:
    browsing.sign_in("vera")
    card = browsing.generate(
        "video", "waves on a beach", width=64, height=64, num_frames=8, fps=8, num_inference_steps=4
    )
    expect(card).to_have_attribute("data-status", "COMPLETED", timeout=90_000)
    card.locator(".card-media").click()
    video = browsing.page.get_by_role("dialog").locator("video")
    browsing.page.wait_for_function(
        "v => v.readyState >= 2", arg=video.element_handle(), timeout=20_000
    )
    state = video.evaluate(
        "v => ({ready: v.readyState, duration: v.duration, w: v.videoWidth, poster: v.poster})"
    )
    assert state["ready"] >= 2 and state["w"] == 64
    assert abs(state["duration"] - 1.0) < 0.2, state  # 8 frames at 8 fps
    assert state["poster"], "the video has no poster"
    browsing.shot("detail-video")


def test_a_bad_field_shows_its_message_and_creates_nothing(browsing: Browsing) -> None:
    browsing.expect_console(r"status of 422")
    page = browsing.page
    browsing.sign_in("bea")
    browsing.fill_form("image", "a fox", width=100)
    with page.expect_response("**/api/images/generate") as answer:
        page.get_by_role("button", name="Generate").click()
    assert answer.value.status == 422
    error = page.locator("#err-width")
    expect(error).to_contain_text("multiple of 8")
    expect(page.get_by_label("Width")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Width")).to_be_focused()
    expect(page.locator("#err-height")).to_be_empty()
    browsing.shot("bad-field")
    with browsing.api() as api:
        assert api.get("/api/generations").json()["items"] == []
    expect(browsing.cards()).to_have_count(0)


def test_cancel_a_running_job_then_delete_it(browsing: Browsing) -> None:
    page = browsing.page
    browsing.sign_in("carl")
    card = browsing.generate("image", "a slow fox", width=256, height=256, num_inference_steps=50)
    expect(card).to_have_attribute("data-status", "PROCESSING", timeout=30_000)
    card.get_by_role("button", name="Cancel").click()
    expect(card).to_have_attribute("data-status", "CANCELLED")
    expect(card.locator(".badge")).to_have_text("Cancelled")
    job_id = card.get_attribute("data-job-id")
    # delete asks first; "Keep it" keeps it
    confirm = page.locator("#confirm")
    card.get_by_role("button", name="Delete").click()
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("a slow fox")
    expect(confirm).to_contain_text("cannot be undone")
    confirm.get_by_role("button", name="Keep it").click()
    expect(confirm).to_be_hidden()
    expect(card).to_have_count(1)
    with browsing.api() as api:
        assert api.get(f"/api/images/{job_id}/status").status_code == 200
    card.get_by_role("button", name="Delete").click()
    confirm.get_by_role("button", name="Delete").click()
    expect(card).to_have_count(0)
    page.reload()
    browsing.wait_ready()
    expect(browsing.cards()).to_have_count(0)
    with browsing.api() as api:
        assert api.get(f"/api/images/{job_id}/status").status_code == 404


def test_notifications_count_rises_and_mark_all_read_clears_it(browsing: Browsing) -> None:
    page = browsing.page
    browsing.sign_in("nora")
    assert browsing.unread() == 0
    first = browsing.generate("image", "a red kite", width=64, height=64, num_inference_steps=2)
    expect(page.locator("#bell-count")).to_have_text("1", timeout=90_000)
    expect(first).to_have_attribute("data-status", "COMPLETED")
    second = browsing.generate("image", "a blue kite", width=64, height=64, num_inference_steps=2)
    expect(page.locator("#bell-count")).to_have_text("2", timeout=90_000)
    expect(second).to_have_attribute("data-status", "COMPLETED")
    page.get_by_role("button", name="Notifications, 2 unread").click()
    panel = page.locator("#notif-panel")
    expect(panel.locator(".notif.unread")).to_have_count(2)
    expect(panel).to_contain_text("Your image is ready")
    browsing.shot("notifications")
    panel.get_by_role("button", name="Mark “Your image is ready” read").first.click()
    expect(page.locator("#bell-count")).to_have_text("1")
    # a notification opens its job: the newest is the blue kite's
    panel.locator(".notif-open").first.click()
    detail = page.locator("#detail")
    expect(detail).to_be_visible()
    expect(detail).to_contain_text("a blue kite")
    expect(detail.locator("img")).to_have_count(1)
    expect(panel).to_be_hidden()
    detail.get_by_role("button", name="Close").click()
    page.get_by_role("button", name="Notifications, 1 unread").click()
    panel.get_by_role("button", name="Mark all read").click()
    expect(page.locator("#bell-count")).to_be_hidden()
    expect(panel.locator(".notif.unread")).to_have_count(0)
    with browsing.api() as api:
        assert api.get("/api/notifications/unread-count").json() == {"unread_count": 0}
    page.reload()
    browsing.wait_ready()
    assert browsing.unread() == 0


def test_the_bell_panel_fits_a_phone_screen(browsing: Browsing) -> None:
    """At 390x844 (a phone) the notification panel opens inside the screen, not off its
    left edge (it was at x = -84), and its buttons can be reached."""
    page = browsing.page
    page.set_viewport_size({"width": 390, "height": 844})
    browsing.sign_in("pia")
    page.get_by_role("button", name="Notifications, 0 unread").click()
    panel = page.locator("#notif-panel")
    expect(panel).to_be_visible()
    box = panel.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    assert box["y"] >= 0 and box["y"] + box["height"] <= 844, box
    assert box["width"] >= 300, box  # most of the screen, not a sliver
    mark_all = panel.get_by_role("button", name="Mark all read").bounding_box()
    assert mark_all is not None and mark_all["x"] + mark_all["width"] <= 390, mark_all
    browsing.shot("bell-phone")


def test_the_gallery_pages_on_scroll_and_filters_by_kind(browsing: Browsing) -> None:
    browsing.sign_in("gil")
    prompts = [f"tile {i}" for i in range(14)]
    with browsing.api() as api:
        for i, prompt in enumerate(prompts):
            kind = "videos" if i == 0 else "images"
            body = {"prompt": prompt, "width": 64, "height": 64, "num_inference_steps": 1}
            body |= {"num_frames": 4, "fps": 4} if kind == "videos" else {}
            while (r := api.post(f"/api/{kind}/generate", json=body)).status_code == 429:
                time.sleep(float(r.headers["Retry-After"]) / 4)  # the unfinished-jobs cap
            assert r.status_code == 202, r.text
    page = browsing.page
    page.reload()
    browsing.wait_ready()
    expect(browsing.cards()).to_have_count(12)  # one page; the rest comes on scroll
    page.mouse.wheel(0, 4000)  # scroll down: the next page loads
    expect(browsing.cards()).to_have_count(14)
    shown = browsing.cards().locator(".card-prompt").all_inner_texts()
    assert shown == prompts[::-1]  # newest first
    page.get_by_role("button", name="Videos").click()
    expect(browsing.cards()).to_have_count(1)
    expect(browsing.cards().first).to_have_attribute("data-kind", "video")
    page.get_by_role("button", name="Images").click()
    expect(browsing.cards()).to_have_count(12)
    page.mouse.wheel(0, 4000)
    expect(browsing.cards()).to_have_count(13)
    assert set(browsing.cards().evaluate_all("cs => cs.map(c => c.dataset.kind)")) == {"image"}
