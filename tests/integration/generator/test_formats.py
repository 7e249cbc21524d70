"""The worker writes each image in the job's format: key extension, MIME type, bytes, the
size asked, and the generation's parameters inside the file."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sorami_generator.encoding import read_metadata
from sorami_shared.events import Kind

from .conftest import request, running_worker

pytestmark = pytest.mark.integration


async def test_webp_and_jpeg_jobs_write_their_format_with_parameters(settings_for, tap, client_bus):
    settings = settings_for()
    webp = request(Kind.IMAGE, width=64, height=48, seed=3, output_format="webp")
    jpeg = request(
        Kind.IMAGE,
        width=48,
        height=64,
        output_format="jpeg",
        output_compression=50,
        embed_metadata=False,
    )
    async with running_worker(settings):
        for env in (webp, jpeg):
            await client_bus.publish(env)
        [w] = await tap.wait_for(webp.data.job_id, "generation.completed")
        [j] = await tap.wait_for(jpeg.data.job_id, "generation.completed")
    for done, ext, mime, pil, size in (
        (w, "webp", "image/webp", "WEBP", (64, 48)),
        (j, "jpg", "image/jpeg", "JPEG", (48, 64)),
    ):
        [f] = done.data.files
        assert (f.key, f.mime_type) == (f"image/{done.data.job_id}/0.{ext}", mime)
        raw = (settings.storage_local_dir / f.key).read_bytes()
        assert f.bytes == len(raw)
        with Image.open(io.BytesIO(raw)) as img:
            assert (img.format, img.size) == (pil, size) == (pil, (f.width, f.height))
    meta = read_metadata((settings.storage_local_dir / w.data.files[0].key).read_bytes())
    assert meta["job_id"] == str(webp.data.job_id) and meta["seed"] == "3"
    assert meta["prompt"] == webp.data.params.prompt and meta["model"] == "tiny-image"
    assert read_metadata((settings.storage_local_dir / j.data.files[0].key).read_bytes()) == {}
