"""Input images through the whole system (every service a process, tiny-image, local
storage): a file uploaded with POST /api/uploads becomes an img2img job, an inpainting job
and, by reference, the input of a job made from an earlier result; the official openai SDK's
``images.edit`` (image + mask, b64_json) makes an inpainting job too. Shares the browser
tier's system (one start fewer). Prints the round trip upload → edit → result (bytes,
seconds) on this machine."""

from __future__ import annotations

import base64
import io
import time

import httpx
import openai
import pytest
from PIL import Image

from tests.e2e.system import PNG_MAGIC, System
from tests.support import images

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

EDIT = {"width": 64, "height": 64, "num_inference_steps": 2}


def alpha_mask(width: int, height: int) -> bytes:
    """OpenAI's convention: the transparent half (left) is edited."""
    mask = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, width // 2, height))
    return images.encode(mask)


def client_of(system: System, user: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {system.token(user)}"}
    return httpx.Client(base_url=system.base_url, headers=headers, timeout=30)


def wait_terminal(client: httpx.Client, job_id: str, within_s: float = 120) -> tuple[dict, float]:
    deadline = time.monotonic() + within_s
    while True:
        status = client.get(f"/api/images/{job_id}/status").json()
        if status["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
            return status, time.perf_counter()
        assert time.monotonic() < deadline, f"{job_id} still {status}"
        time.sleep(0.1)


def test_uploads_become_jobs_through_the_whole_system(web_system: System) -> None:
    system = web_system  # the browser tier's system: no second start
    photo = images.encode(Image.new("RGB", (512, 384), (30, 120, 200)), "JPEG", quality=90)
    with client_of(system, "ines") as client, client_of(system, "mallory") as other:
        # --- upload → img2img → result: the round trip, timed ------------------------------
        started = time.perf_counter()
        sent = client.post("/api/uploads", files={"file": ("photo.jpg", photo)})
        assert sent.status_code == 201, sent.text
        uploaded = time.perf_counter()
        upload = sent.json()
        job = client.post(
            "/api/images/generate",
            json={"prompt": "a watercolour", "image": upload["upload_id"], "strength": 0.6, **EDIT},
        )
        assert job.status_code == 202, job.text
        status, done_at = wait_terminal(client, job.json()["job_id"])
        assert status["status"] == "COMPLETED", status
        result = (client.get(f"/api/images/{job.json()['job_id']}/result")).json()
        png = client.get(result["files"][0]["url"]).content
        assert png.startswith(PNG_MAGIC) and images.size_of(png) == (64, 64)
        print(
            f"\n[inputs] upload {len(photo)} B JPEG 512x384 in {uploaded - started:.3f}s; "
            f"upload → img2img (64x64, 2 steps) → result in {done_at - started:.2f}s; "
            f"result {len(png)} B"
        )

        # --- inpainting with a mask; a later job from the earlier result (no re-upload) ----
        mask = Image.new("L", (512, 384), 0)
        mask.paste(255, (0, 0, 256, 384))
        sent_mask = client.post("/api/uploads", files={"file": ("m.png", images.encode(mask))})
        body = {
            "prompt": "a boat",
            "image": upload["upload_id"],
            "mask": sent_mask.json()["upload_id"],
            **EDIT,
        }
        reuse = {"prompt": "again", "image": {"generation": job.json()["job_id"]}, **EDIT}
        ids = []
        for request in (body, reuse):
            created = client.post("/api/images/generate", json=request)
            assert created.status_code == 202, created.text
            ids.append(created.json()["job_id"])
        for job_id in ids:
            status, _ = wait_terminal(client, job_id)
            assert status["status"] == "COMPLETED", status
        # another user can name neither the upload nor the result
        for ref in (upload["upload_id"], {"generation": job.json()["job_id"]}):
            theirs = other.post("/api/images/generate", json={**reuse, "image": ref})
            assert theirs.status_code == 422 and theirs.json()["detail"][0]["loc"] == [
                "body",
                "image",
            ]

    # --- the openai SDK: images.edit with an alpha mask, base64 answer ---------------------
    sdk = openai.OpenAI(base_url=f"{system.base_url}/v1", api_key=system.token("ines"), timeout=120)
    try:
        source = images.png(96, 64, mode="RGB")
        edited = sdk.images.edit(
            image=("in.png", io.BytesIO(source), "image/png"),
            mask=("mask.png", io.BytesIO(alpha_mask(96, 64)), "image/png"),
            prompt="a lighthouse",
            n=1,
            size="64x64",
            response_format="b64_json",
            extra_body={"num_inference_steps": 2},
        )
        (item,) = edited.data
        out = base64.b64decode(item.b64_json or "")
        assert out.startswith(PNG_MAGIC) and images.size_of(out) == (64, 64)
        by_url = sdk.images.edit(
            image=("in.png", io.BytesIO(source), "image/png"),
            prompt="a lighthouse",
            size="64x64",
            extra_body={"num_inference_steps": 2},
        )
        assert by_url.data[0].url
        with pytest.raises(openai.BadRequestError) as wrong:
            sdk.images.edit(
                image=("in.png", io.BytesIO(source), "image/png"),
                mask=("mask.png", io.BytesIO(alpha_mask(32, 32)), "image/png"),
                prompt="x",
            )
        assert wrong.value.body["param"] == "mask" and "size" in wrong.value.body["message"]
        with pytest.raises(openai.BadRequestError) as svg:
            sdk.images.edit(
                image=("x.svg", io.BytesIO(images.other_format("SVG")), "image/svg+xml"),
                prompt="x",
            )
        assert svg.value.body["param"] == "image"
    finally:
        sdk.close()
