"""Live previews end to end: the real generator makes a 20-step job's previews, the gateway's
API process hears them on its own queue and streams them to the job's owner only, as
``preview`` frames without an id (never in the replay log)."""

from __future__ import annotations

import asyncio
import base64
import io
import uuid

import pytest
from PIL import Image
from sorami_shared.events import GenerationPreview, Kind, new_event

from tests.integration.gateway.conftest import make_token
from tests.integration.generator.conftest import request, running_worker
from tests.support.sse import sse_stream

from .conftest import serving

pytestmark = pytest.mark.timeout(120)


def previews(reader, job_id: str) -> list:
    return [f for f in reader.frames if f.event == "preview" and f.data["job_id"] == job_id]


async def until_listening(bus, reader, user: str) -> None:
    """Probe previews until the API process's queue is bound (it binds in the background)."""
    probe = str(uuid.uuid4())
    data = GenerationPreview(
        job_id=probe,
        user_id=user,
        kind=Kind.IMAGE,
        index=0,
        step=1,
        total_steps=2,
        mime_type="image/webp",
        width=1,
        height=1,
        data_b64="",
    )
    for _ in range(100):
        await bus.publish(new_event(data, source="test", correlation_id="probe"), timeout=5)
        if previews(reader, probe):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the API process never streamed a preview")


async def test_a_20_step_job_streams_previews_to_its_owner_only(
    make_settings, amqp_url, settings_for, client_bus, tap
) -> None:
    generator = settings_for(preview_min_interval_s=0.05)
    async with serving(make_settings(amqp_url=amqp_url)) as url:
        async with (
            sse_stream(url, token=make_token("alice")) as alice,
            sse_stream(url, token=make_token("bob")) as bob,
        ):
            await until_listening(client_bus, alice, "alice")
            job = request(Kind.IMAGE, user_id="alice", num_inference_steps=20, width=64, height=64)
            job_id = str(job.data.job_id)
            async with running_worker(generator):
                await client_bus.publish(job)
                await tap.wait_for(job.data.job_id, "generation.completed")
            await alice.wait_for(lambda r: len(previews(r, job_id)) >= 2, timeout=10)
            await asyncio.sleep(0.3)  # anything late would show now
    frames = previews(alice, job_id)
    assert 2 <= len(frames) <= 4
    assert all(f.id is None for f in frames)  # live only: not in the replay log
    for f in frames:
        head, b64 = f.data["url"].split(",", 1)
        assert head == "data:image/webp;base64" and 0 < f.data["step"] < 20
        with Image.open(io.BytesIO(base64.b64decode(b64))) as img:
            assert img.size == (f.data["width"], f.data["height"]) == (64, 64)
    assert not [f for f in bob.frames if f.event == "preview"]  # another user's: none
