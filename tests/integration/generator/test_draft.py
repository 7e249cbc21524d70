"""The fast decode tier: a model entry names a tiny autoencoder (a random-weight
``AutoencoderTiny`` built here); a draft job and a full job of the same model never share a
pipeline call, and both complete with images of the size asked."""

from __future__ import annotations

import asyncio
import io
import uuid

import pytest
from PIL import Image
from sorami_generator.jobs import JobProcessor
from sorami_generator.service import make_pipeline_cache
from sorami_shared.events import GenerationParams, GenerationRequested, Kind, new_event
from sorami_shared.messaging import Delivery
from sorami_shared.storage.local import LocalStorage

pytestmark = pytest.mark.integration

DRAFTABLE = {
    "source": "builtin:tiny-image",
    "kind": "image",
    "pipeline": "StableDiffusionPipeline",
    "defaults": {"width": 64, "height": 64, "num_inference_steps": 4},
    "max_width": 256,
    "max_height": 256,
    "draft_decoder": "builtin:tiny-taesd",
}


def job(quality: str | None, steps: int = 3):
    params = GenerationParams(
        prompt="a fox", model="draftable", width=64, height=48, num_inference_steps=steps,
        guidance_scale=5.0, seed=1, quality=quality,
    )  # fmt: skip
    data = GenerationRequested(job_id=uuid.uuid4(), user_id="u", kind=Kind.IMAGE, params=params)
    return new_event(data, source="test", correlation_id="draft")


async def test_draft_and_full_jobs_run_in_separate_calls_and_both_complete(settings_for):
    settings = settings_for(models={"draftable": DRAFTABLE}, batch_window_ms=1000.0)
    events = []

    async def publish(envelope) -> None:
        events.append(envelope)

    proc = JobProcessor(settings, publish, LocalStorage(settings), make_pipeline_cache(settings))
    first = Delivery(attempt=1, max_attempts=6, redelivered=False)
    try:
        await proc.pipelines.get("draftable")
        blocker = asyncio.create_task(proc.handle(job(None, steps=8), first))
        await asyncio.sleep(0.3)  # the blocker is on the device: the next jobs wait together
        draft, full, full2 = job("draft"), job("full"), job(None)
        await asyncio.gather(*(proc.handle(e, first) for e in (draft, full, full2)), blocker)
    finally:
        await proc.batcher.close()
    done = {e.data.job_id: e.data for e in events if e.type == "generation.completed"}
    assert {draft.data.job_id, full.data.job_id, full2.data.job_id} <= set(done)
    # blocker alone, then the two full jobs together, the draft alone: never draft with full
    assert dict(proc.batcher.stats.sizes) == {1: 2, 2: 1}, proc.batcher.stats.sizes
    pictures = {}
    for e in (draft, full):
        [f] = done[e.data.job_id].files
        raw = (settings.storage_local_dir / f.key).read_bytes()
        with Image.open(io.BytesIO(raw)) as img:
            assert img.size == (64, 48)
            pictures[e.data.params.quality] = img.tobytes()
    assert pictures["draft"] != pictures["full"]  # another decoder made it
