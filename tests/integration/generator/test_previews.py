"""Live previews from the worker: a 20-step job sends several small pictures before its
completed event (at most 4, in order, each decodable); ``max_previews`` 0 sends none."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image
from sorami_shared.events import Kind

from .conftest import EventTap, request, running_worker

pytestmark = pytest.mark.integration


async def test_a_20_step_job_sends_previews_before_it_completes(amqp_url, settings_for, client_bus):
    tap = EventTap(amqp_url, (*EventTap.KEYS, "generation.preview"))
    await tap.start()
    settings = settings_for(preview_min_interval_s=0.0)
    job = request(Kind.IMAGE, width=64, height=48, num_inference_steps=20)
    quiet = request(Kind.IMAGE, num_inference_steps=20, max_previews=0)
    try:
        async with running_worker(settings):
            await client_bus.publish(job)
            await client_bus.publish(quiet)
            await tap.wait_for(job.data.job_id, "generation.completed")
            await tap.wait_for(quiet.data.job_id, "generation.completed")
    finally:
        await tap.close()
    order = [e.type for e in tap.for_job(job.data.job_id)]
    previews = [e.data for e in tap.for_job(job.data.job_id, "generation.preview")]
    assert 2 <= len(previews) <= 4, order
    assert order.index("generation.completed") > max(
        i for i, t in enumerate(order) if t == "generation.preview"
    )
    assert [p.index for p in previews] == list(range(len(previews)))
    assert all(0 < p.step < p.total_steps == 20 for p in previews)
    assert [p.step for p in previews] == sorted({p.step for p in previews})
    for p in previews:
        with Image.open(io.BytesIO(base64.b64decode(p.data_b64))) as img:
            assert (img.format, img.size) == ("WEBP", (p.width, p.height)) == ("WEBP", (64, 48))
        assert p.user_id == job.data.user_id
    assert not tap.for_job(quiet.data.job_id, "generation.preview")


async def test_a_model_naming_a_preview_decoder_previews_through_it(
    amqp_url, settings_for, client_bus
):
    """Same job, same seed, two entries of one model: the one naming a tiny autoencoder
    (``preview_decoder``) sends previews decoded by it, not by the latent→RGB factors."""
    taesd = {
        "source": "builtin:tiny-image",
        "kind": "image",
        "pipeline": "StableDiffusionPipeline",
        "preview_decoder": "builtin:tiny-taesd",
    }
    tap = EventTap(amqp_url, (*EventTap.KEYS, "generation.preview"))
    await tap.start()
    settings = settings_for(models={"taesd-previews": taesd}, preview_min_interval_s=0.0)
    same = {"width": 64, "height": 48, "num_inference_steps": 10, "seed": 7}
    plain = request(Kind.IMAGE, **same)
    decoded = request(Kind.IMAGE, model="taesd-previews", **same)
    try:
        async with running_worker(settings):
            for job in (plain, decoded):
                await client_bus.publish(job)
                await tap.wait_for(job.data.job_id, "generation.completed")
    finally:
        await tap.close()

    def first_preview(job) -> bytes:
        previews = tap.for_job(job.data.job_id, "generation.preview")
        assert previews, [e.type for e in tap.for_job(job.data.job_id)]
        with Image.open(io.BytesIO(base64.b64decode(previews[0].data.data_b64))) as img:
            assert img.size == (64, 48)
            return img.convert("RGB").tobytes()

    assert first_preview(plain) != first_preview(decoded)
