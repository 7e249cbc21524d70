"""Input images in the web app (real chromium, the whole system): attach a file with the
picker (uploaded at once, previewed), generate from it; "Edit" on the result makes it the
next job's input without uploading it again; "Animate" makes a video from it (tiny-i2v, the
image its first frame) and "Vary" an img2img job of the same prompt with a new seed, both by
reference (no re-upload)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.web.browsing import Browsing
from tests.support import images

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_attach_an_image_then_edit_the_result(browsing: Browsing) -> None:
    page = browsing.page
    page.goto(browsing.system.base_url)
    browsing.sign_in("iris")
    page.locator("#f-image").set_input_files(
        files=[{"name": "photo.png", "mimeType": "image/png", "buffer": images.png(96, 64)}]
    )
    expect(page.locator("#input-image")).to_be_visible()
    expect(page.locator("#input-label")).to_contain_text("96×64")
    mask = images.png(96, 64, mode="L", color=255)
    page.locator("#f-mask").set_input_files(
        files=[{"name": "mask.png", "mimeType": "image/png", "buffer": mask}]
    )
    expect(page.locator("#mask-label")).to_contain_text("mask 96×64")
    first = browsing.generate("image", "a harbour", width=64, height=64, num_inference_steps=2)
    expect(first).to_have_attribute("data-status", "COMPLETED", timeout=90_000)
    first_id = first.get_attribute("data-job-id")
    # the detail view shows the inputs (image and mask) beside the result
    first.locator(".card-media").click()
    shown = page.locator("#detail .detail-input img")
    expect(shown).to_have_count(2)
    expect(page.locator('#detail .detail-input[data-role="mask"] img')).to_be_visible()
    page.wait_for_function(
        "[...document.querySelectorAll('#detail .detail-input img')].every(i => i.naturalWidth > 0)"
    )
    browsing.shot("detail-inputs")
    page.locator("#detail-close").click()

    first.get_by_role("button", name="Edit").click()
    expect(page.locator("#input-label")).to_contain_text("from “a harbour”")
    second = browsing.generate("image", "the same at night", num_inference_steps=2)
    expect(second).to_have_attribute("data-status", "COMPLETED", timeout=90_000)
    browsing.shot("edited")

    with browsing.api() as api:
        uploads = api.get("/api/uploads").json()["items"]
        made = {i["job_id"]: i for i in api.get("/api/generations").json()["items"]}
    assert len(uploads) == 2  # the image and its mask; Edit did not upload again
    keys = {u["upload_id"] for u in uploads}
    used = {i["role"]: i["key"] for i in made[first_id]["params"]["inputs"]}
    assert set(used) == {"image", "mask"}  # inpainting
    assert {k.split("/")[1] for k in used.values()} == set(keys)
    (reused,) = made[second.get_attribute("data-job-id")]["params"]["inputs"]
    assert reused["key"] == f"image/{first_id}/0.png"

    # --- Animate and Vary on the first card: jobs by reference, no upload ---------------
    first.get_by_role("button", name="Animate").click()
    video = page.locator('#gallery .card[data-kind="video"]')
    expect(video).to_have_attribute("data-status", "COMPLETED", timeout=90_000)
    first.get_by_role("button", name="Vary").click()
    expect(browsing.cards()).to_have_count(4)
    expect(page.locator('#gallery .card[data-status="COMPLETED"]')).to_have_count(4, timeout=90_000)
    browsing.shot("animated")
    with browsing.api() as api:
        made = {i["job_id"]: i for i in api.get("/api/generations").json()["items"]}
        assert len(api.get("/api/uploads").json()["items"]) == 2
    animated = made[video.get_attribute("data-job-id")]
    assert animated["kind"] == "video" and animated["params"]["model"] == "tiny-i2v"
    assert [i["key"] for i in animated["params"]["inputs"]] == [f"image/{first_id}/0.png"]
    seen = (first_id, second.get_attribute("data-job-id"), animated["job_id"])
    (varied,) = [i for i in made.values() if i["job_id"] not in seen]
    assert varied["params"]["prompt"] == "a harbour"
    assert varied["params"]["seed"] != made[first_id]["params"]["seed"]
    assert [i["key"] for i in varied["params"]["inputs"]] == [f"image/{first_id}/0.png"]
